// The one thing the rotation engine needs from a managed system: change a password there, and
// find out whether a password logs in. A connector talks to exactly one kind of system (`ssh`:
// a Unix host through a worker process; `ldap`: a directory). It gets the secrets of exactly one
// rotation and answers with a typed outcome; its messages never contain a secret.
#pragma once

#include <string>

#include "base/secret.hpp"

namespace sekisho::rotation {

// The account a connector works on, as the vault names it.
struct Target {
  std::string host;     // the host's name in the gateway (`web01`, `corp`)
  std::string account;  // the account on it (`root`, `svc-backup`)
  std::string kind;     // the vaulted credential's kind: "password" or "key"
};

// What became of a change. Only kChanged means the host took the new secret; kRefusedOld,
// kHostKeyMismatch and kPasswordRejected mean it certainly did not; kUnreachable and kUnknown
// (the connection broke while the change ran) mean nobody knows, so the engine asks the host
// which secret it accepts before it trusts either.
enum class ChangeOutcome {
  kChanged,           // the host reported success
  kUnreachable,       // no connection, or it broke before anything was sent
  kHostKeyMismatch,   // the host's key is not the pinned one: nothing was sent
  kRefusedOld,        // the login with the vaulted secret (or the rotation account) was refused
  kPasswordRejected,  // the host's policy refused the new password (pam_pwquality, a wrapper)
  kUnknown,           // the connection broke while the change ran
};

// What a fresh login with one secret showed.
enum class LoginOutcome {
  kAccepted,
  kRefused,
  kUnreachable,
  kHostKeyMismatch,
};

const char* to_string(ChangeOutcome outcome);
const char* to_string(LoginOutcome outcome);

struct ChangeResult {
  ChangeOutcome outcome = ChangeOutcome::kUnknown;
  std::string message;  // one line for the operator (the host's own words, bounded); no secret
};

struct LoginResult {
  LoginOutcome outcome = LoginOutcome::kUnreachable;
  std::string message;  // one line; no secret
};

// Implementations: the SSH worker connector (broker/rotation), the LDAP/AD connector (ldap/),
// fakes in tests. Each call is one self-contained conversation with the host (its own
// connection), blocking and bounded by the connector's own timeout. Thread-safe: the engine may
// call one connector from several threads for different accounts.
class Connector {
 public:
  virtual ~Connector() = default;
  // Changes `target`'s secret from `current` (the vaulted one; for "key" the private key) to
  // `next`. Logs in as the connector is configured to (the account itself, or a rotation account).
  virtual ChangeResult change(const Target& target, const Secret& current, const Secret& next) = 0;
  // Sets `next` without knowing the current secret, as the host's reconcile account (an
  // administrator reset). kRefusedOld when no reconcile account is configured or it is refused.
  virtual ChangeResult reset(const Target& target, const Secret& next) = 0;
  // A fresh login as `target` with `secret` (never reusing a connection of change()).
  virtual LoginResult try_login(const Target& target, const Secret& secret) = 0;
};

}  // namespace sekisho::rotation
