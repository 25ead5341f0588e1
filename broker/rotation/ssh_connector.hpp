// The core's side of password rotation over SSH (docs/ssh_gateway.md "Rotation over SSH"): a
// rotation::Connector whose every call is one `sekisho-worker` on one TCP connection. The core
// never speaks SSH to a managed host (DESIGN.md "Architecture"): it looks the host up, connects
// the socket itself (broker/sessions/target_connect.hpp), starts a worker for the job
// "change_password" or "try_login" (ssh/rotation_job.hpp), compares the host key the worker was
// shown with the pinned one, and only then sends the secrets of that one job. The worker's
// verdict becomes the connector's typed outcome; a worker that dies or answers garbage after the
// secrets went out leaves a change in doubt (kUnknown), a login unverified (kUnreachable).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "broker/ssh/host_key_probe.hpp"
#include "rotation/connector.hpp"
#include "ssh/rotation_job.hpp"

namespace sekisho::broker {

// An account the connector logs in as: the [rotation] rule's rotation or reconcile account, a
// vaulted account of the same host.
struct SshRotationLogin {
  std::string account;
  std::string kind;  // the vaulted credential's: "password" or "key" (an OpenSSH private key)
  Secret secret;
};

// What the connector needs to know about a target's host, per call.
struct SshRotationHost {
  std::string address;
  std::uint16_t port = 22;
  std::string pinned_host_key;  // "type base64", pinned at `hosts add`
  // change() logs in as this account instead of the target account, and runs `sudo -n chpasswd`.
  std::optional<SshRotationLogin> rotation;
  // reset() logs in as this account and runs `sudo -n chpasswd` (chpasswd when it is root).
  std::optional<SshRotationLogin> reconcile;
  // try_login() checks a password through `su -c true ACCOUNT` on a pty, logged in as the
  // rotation account, instead of logging in as the account: for a host that refuses the
  // account's password logins (`PermitRootLogin prohibit-password` for root).
  bool verify_with_su = false;
};

// Looks up the host of a target and the logins its rules name (the store and the [rotation]
// rules; a fixed table in tests). Called once per connector call, from that call's thread.
using SshRotationLookup = std::function<Result<SshRotationHost>(const rotation::Target&)>;

struct SshConnectorOptions {
  HostKeyProbe workers;  // where workers come from and what they give up, as for the probe
  // Each blocking step with the host (TCP connect, key exchange, login, chpasswd's run); a whole
  // call ends within about four times this, then the worker is killed.
  std::chrono::seconds timeout{30};
  // After a change or reset whose outcome is unknown (the worker died or the connection broke
  // once the new password was on its way), the call returns only this long after the worker is
  // gone: the line may still reach the host's chpasswd (sshd applies a line it has received even
  // when the client has vanished), and the engine's next step asks the host which password it
  // takes. Probing at once could see the old one, drop the new one, and then have the host switch
  // to it: a lockout the rotation kill test produced.
  std::chrono::milliseconds unknown_change_settle{3000};
};

// Logs in as the target account with `current` (or as the rotation account) and runs chpasswd
// (root) or `sudo -n chpasswd` (any other login), the line "ACCOUNT:NEXT" on its standard input.
// Never logs a secret: log lines name the host, the account and the outcome. Thread-safe (each
// call has its own worker and connection).
class SshConnector final : public rotation::Connector {
 public:
  SshConnector(SshConnectorOptions options, SshRotationLookup lookup);

  // kChanged when chpasswd exited 0; kPasswordRejected (its words) when it exited non-zero or the
  // password cannot go through chpasswd (nothing sent); kRefusedOld when the login was refused;
  // kHostKeyMismatch (nothing sent); kUnreachable when the lookup failed, the host could not be
  // reached or the connection broke before the new password was sent; kUnknown after that. A
  // target of kind "key" is not rotated by this connector: kPasswordRejected, nothing sent.
  rotation::ChangeResult change(const rotation::Target& target, const Secret& current,
                                const Secret& next) override;
  // As change(), logged in as the host's reconcile account; kRefusedOld without one.
  rotation::ChangeResult reset(const rotation::Target& target, const Secret& next) override;
  // A fresh connection and login as the target account with `secret` (the target's kind says
  // password or key); kAccepted or kRefused, kHostKeyMismatch, kUnreachable otherwise. With
  // verify_with_su: logged in as the rotation account, su's verdict on `secret` (a refused
  // rotation account, or none configured, is kUnreachable: nothing was learnt of `secret`).
  rotation::LoginResult try_login(const rotation::Target& target, const Secret& secret) override;

 private:
  // `result`, after the settle time when it is kUnknown (SshConnectorOptions).
  rotation::ChangeResult settled(rotation::ChangeResult result) const;

  SshConnectorOptions options_;
  SshRotationLookup lookup_;
};

// The pure part of SshConnector: how one worker conversation becomes an outcome.
namespace ssh_connector_detail {

// How far one conversation with a worker got.
struct Conversation {
  bool secrets_sent = false;                  // the job's secrets went to the worker
  bool host_key_mismatch = false;             // the host showed another key: the worker got "abort"
  std::optional<ssh::RotationResult> result;  // the worker's checked verdict, if it gave one
  std::string message;  // one line: why there is no verdict, or the mismatch's fingerprints
};

// change()/reset(): the verdict's outcome; with none, kHostKeyMismatch on a mismatch, kUnknown
// when the secrets had gone out (the host may have the new password), kUnreachable before.
rotation::ChangeResult change_result(const Conversation& c);
// try_login(): kAccepted only on the worker's "accepted"; with no verdict kHostKeyMismatch on a
// mismatch, kUnreachable otherwise.
rotation::LoginResult login_result(const Conversation& c);

}  // namespace ssh_connector_detail

}  // namespace sekisho::broker
