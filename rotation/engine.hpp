// The rotation state machine (DESIGN.md "Password rotation"): a rotation never loses a password.
//
//   generate → store as pending (durable, before the host is touched) → change on the host →
//   verify with a fresh login using the new secret → promote: pending becomes current, the old
//   current becomes previous (the store keeps the last N).
//
// After a crash or a failure at any step, recover() works out which of pending and current the
// host accepts and makes that one current; when it accepts neither, the host's reconcile account
// sets a fresh one; without one the account is marked unknown. An account is "in doubt" while it
// has a pending version: nothing may use it until recover() settles it.
//
// Pure logic over two ports (the vault and the connector) and an event sink: no store, no
// network, no clock of its own. Blocking for as long as the connector's calls; any thread, but
// never two calls for the same account at once (the caller serialises per account).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "rotation/connector.hpp"
#include "rotation/password_policy.hpp"

namespace sekisho::rotation {

// What the vault holds for one account.
struct Versions {
  std::optional<Secret> current;
  std::optional<Secret> pending;
};

// The engine's view of the store. Every call is one durable transaction: when it returns ok the
// change survives a crash. Thread-safe.
class VaultPort {
 public:
  virtual ~VaultPort() = default;
  [[nodiscard]] virtual Result<Versions> load(const Target& target) = 0;
  // Stores `next` as the pending version. kAlreadyExists when one is pending; kInvalidArgument
  // when `next` is a password current or pending for an account of another host (the engine
  // then generates another).
  [[nodiscard]] virtual Result<void> store_pending(const Target& target, const Secret& next) = 0;
  // pending → current, current → previous; clears the account's error and unknown mark and
  // records the rotation time. kNotFound when nothing is pending.
  [[nodiscard]] virtual Result<void> promote_pending(const Target& target) = 0;
  // Drops the pending version (the host kept the current one).
  [[nodiscard]] virtual Result<void> discard_pending(const Target& target) = 0;
  // The last error of a rotation that left the current secret in place (one line, no secret).
  [[nodiscard]] virtual Result<void> record_failure(const Target& target,
                                                    const std::string& why) = 0;
  // Neither version logs in and nothing could set one: the vault says so until an operator acts.
  [[nodiscard]] virtual Result<void> mark_unknown(const Target& target, const std::string& why) = 0;
};

// Audited steps (the caller writes them as rotation.start/changed/verified/failed/recovered and
// rotation.unknown, and notifies on failed and unknown). `detail` is one line, never a secret.
enum class EventKind { kStart, kChanged, kVerified, kFailed, kRecovered, kUnknown };
const char* to_string(EventKind kind);  // "rotation.start", …

struct Event {
  EventKind kind;
  Target target;
  std::string detail;
};
using EventSink = std::function<void(const Event&)>;

// How a rotate() or recover() ended.
enum class Outcome {
  kRotated,    // the new secret is current and verified
  kUnchanged,  // the host kept the current secret (refused, rejected, host key mismatch)
  kRecovered,  // an in-doubt account was settled (to pending, current, or a reconcile reset)
  kInDoubt,    // the host could not be reached: the pending version stays for a later recover()
  kUnknown,    // neither secret logs in and no reset was possible: marked unknown
  kError,      // the vault failed (nothing was sent to the host after a failed store)
};
const char* to_string(Outcome outcome);

struct Report {
  Outcome outcome = Outcome::kError;
  std::string message;  // one line for the operator; no secret
};

struct EngineOptions {
  // After a verified change, also check that the old password is refused. Off where the host's
  // faillock would count the failed login against the account.
  bool check_old_refused = true;
  // How many fresh passwords to try when the vault refuses one as used on another host.
  int generate_attempts = 3;
};

// Produces the next secret for `target` (generate_password under the host's policy).
using SecretSource = std::function<Result<Secret>(const Target& target)>;

// One rotation of `target`. An account already in doubt is recovered first (and not rotated
// again in the same call). Every step is reported to `events`: start, then changed, then
// verified (kRotated) or failed; a call that ends otherwise ends with a failed, recovered or
// unknown event, except a vault that cannot even load (kError, no event: nothing began).
//   - The new secret is stored as pending before the host is touched; a store refused with
//     kInvalidArgument (used on another host) draws a fresh secret, up to generate_attempts.
//   - change() kRefusedOld, kHostKeyMismatch, kPasswordRejected, kUnreachable: the host kept the
//     current secret (kUnreachable means nothing was sent): pending dropped, the cause recorded
//     as the account's last error, kUnchanged. kUnknown: recover().
//   - After kChanged, a fresh login with the new secret: refused → recover(); unreachable or host
//     key mismatch → kInDoubt (pending stays). Accepted and check_old_refused: the old secret
//     must now be refused. A host that still accepts it did not really rotate (another
//     authentication path, a PAM stack that takes anything): a failed verification (event
//     failed, notified), settled by recover() (which promotes the new secret, since it logs in)
//     and kept as the account's last error; the outcome is then kRecovered, never kRotated. An
//     old-secret login that cannot run (unreachable) does not stop the promotion; the report
//     says the check was not made.
Report rotate(const Target& target, VaultPort& vault, Connector& connector,
              const SecretSource& next_secret, const EventSink& events,
              const EngineOptions& options = {});

// Settles an account in doubt (a pending version exists); a no-op (kUnchanged) when none is.
// Tries pending first (the change most likely went through), then current, then a reconcile
// reset to the pending secret; marks the account unknown when all fail. A login that cannot run
// (unreachable, host key mismatch) ends it kInDoubt with nothing changed. Neither version is
// ever deleted by a failure: after mark_unknown the pending secret stays, so a later recover()
// still finds the host on it (a reset cut off midway may have set it).
Report recover(const Target& target, VaultPort& vault, Connector& connector,
               const EventSink& events);

}  // namespace sekisho::rotation
