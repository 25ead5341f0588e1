#include "rotation/engine.hpp"

#include <algorithm>
#include <utility>

namespace sekisho::rotation {

namespace {

// The ports of one rotate() or recover() call, and how it reports a step.
struct Run {
  const Target& target;
  VaultPort& vault;
  Connector& connector;
  const EventSink& events;

  void emit(EventKind kind, const std::string& detail) const {
    if (events) events(Event{kind, target, detail});
  }
  // Reports the last step and ends the call with it.
  Report finish(EventKind kind, Outcome outcome, std::string message) const {
    emit(kind, message);
    return Report{outcome, std::move(message)};
  }
};

std::string describe(const ChangeResult& result) {
  std::string text = to_string(result.outcome);
  if (!result.message.empty()) text += " (" + result.message + ")";
  return text;
}

std::string describe(const LoginResult& result) {
  std::string text = to_string(result.outcome);
  if (!result.message.empty()) text += " (" + result.message + ")";
  return text;
}

bool unreachable(LoginOutcome outcome) {
  return outcome == LoginOutcome::kUnreachable || outcome == LoginOutcome::kHostKeyMismatch;
}

Report prefixed(std::string prefix, Report report) {
  report.message = std::move(prefix) + report.message;
  return report;
}

// pending → current after the host accepted the pending secret.
Report promote(const Run& run, const std::string& why) {
  if (auto promoted = run.vault.promote_pending(run.target); !promoted) {
    return run.finish(EventKind::kFailed, Outcome::kError,
                      why + "; the vault could not promote it (" + promoted.error().message +
                          "): it stays pending until the next recovery");
  }
  return run.finish(EventKind::kRecovered, Outcome::kRecovered, why);
}

// Both secrets refused: the reconcile account sets the pending one (fresh, never used, already
// durable), which then must log in; otherwise the account is marked unknown. A reset that broke
// midway may still have set the pending secret: it stays pending, so the next recovery tries it.
Report reset_or_mark_unknown(const Run& run, const Secret& pending, const std::string& refused) {
  const ChangeResult reset = run.connector.reset(run.target, pending);
  std::string why = refused + "; reset by the reconcile account: " + describe(reset);
  if (reset.outcome == ChangeOutcome::kChanged) {
    const LoginResult check = run.connector.try_login(run.target, pending);
    if (check.outcome == LoginOutcome::kAccepted) {
      return promote(run, "reset by the reconcile account");
    }
    if (unreachable(check.outcome)) {
      return run.finish(EventKind::kFailed, Outcome::kInDoubt,
                        why + ", not verified: " + describe(check) + "; it stays pending");
    }
    why += ", but the reset password is refused";
  }
  if (auto marked = run.vault.mark_unknown(run.target, why); !marked) {
    return run.finish(
        EventKind::kFailed, Outcome::kError,
        why + "; the vault could not mark the account unknown (" + marked.error().message + ")");
  }
  return run.finish(EventKind::kUnknown, Outcome::kUnknown, why);
}

// Which of pending and current the host accepts, pending first: a change that ran is more likely
// to have gone through than not.
Report settle(const Run& run, const Versions& versions) {
  const LoginResult with_pending = run.connector.try_login(run.target, *versions.pending);
  if (with_pending.outcome == LoginOutcome::kAccepted) {
    return promote(run, "host accepts the new password");
  }
  if (unreachable(with_pending.outcome)) {
    return run.finish(EventKind::kFailed, Outcome::kInDoubt,
                      "recovery: the new password could not be tried: " + describe(with_pending) +
                          "; it stays pending");
  }
  if (!versions.current) {
    return reset_or_mark_unknown(run, *versions.pending,
                                 "the host refuses the new password and no current one is vaulted");
  }
  const LoginResult with_current = run.connector.try_login(run.target, *versions.current);
  if (with_current.outcome == LoginOutcome::kAccepted) {
    if (auto discarded = run.vault.discard_pending(run.target); !discarded) {
      return run.finish(EventKind::kFailed, Outcome::kError,
                        "host kept the current password; the vault could not drop the pending "
                        "version (" +
                            discarded.error().message + ")");
    }
    return run.finish(EventKind::kRecovered, Outcome::kRecovered, "host kept the current password");
  }
  if (unreachable(with_current.outcome)) {
    return run.finish(EventKind::kFailed, Outcome::kInDoubt,
                      "recovery: the new password is refused and the current one could not be "
                      "tried: " +
                          describe(with_current) + "; the new one stays pending");
  }
  return reset_or_mark_unknown(run, *versions.pending,
                               "the host refuses both the current and the new password");
}

// The host certainly kept the current secret: drop the pending one and record why.
Report keep_current(const Run& run, const std::string& why) {
  if (auto discarded = run.vault.discard_pending(run.target); !discarded) {
    return run.finish(EventKind::kFailed, Outcome::kError,
                      why + "; the vault could not drop the pending version (" +
                          discarded.error().message + "): the next recovery will");
  }
  std::string message = why + "; the current password stays";
  if (auto recorded = run.vault.record_failure(run.target, why); !recorded) {
    message += " (the vault could not record the failure: " + recorded.error().message + ")";
  }
  return run.finish(EventKind::kFailed, Outcome::kUnchanged, std::move(message));
}

// A fresh secret stored as pending, or why not. A secret the vault refuses as used on another
// host (kInvalidArgument) is replaced by a new one, up to `attempts` in all.
Result<Secret> store_new_secret(const Run& run, const SecretSource& next_secret, int attempts) {
  for (int attempt = 1;; ++attempt) {
    Result<Secret> next = next_secret(run.target);
    if (!next) return fail(next.error().code, "generate: " + next.error().message);
    auto stored = run.vault.store_pending(run.target, *next);
    if (stored) return next;
    if (stored.error().code != ErrorCode::kInvalidArgument || attempt >= attempts) {
      return fail(stored.error().code,
                  "the vault could not store the new password: " + stored.error().message +
                      "; nothing was sent to the host");
    }
  }
}

// After the host reported the change: the new secret must log in on a fresh connection, and
// (check_old_refused) the old one must not. A host that still takes the old secret did not
// really rotate it (another authentication path, a cache, a PAM stack that takes anything):
// that is a failed verification, reported and notified as one, and settled by recover() like
// any other doubt. The account's last error keeps the cause even though recover() promoted.
Report verify(const Run& run, const Secret& current, const Secret& next,
              const EngineOptions& options) {
  const LoginResult with_new = run.connector.try_login(run.target, next);
  if (with_new.outcome == LoginOutcome::kRefused) {
    const std::string why = "verify: the host refuses the new password after the change";
    run.emit(EventKind::kFailed, why + "; asking the host which password it accepts");
    return prefixed(why + "; ", recover(run.target, run.vault, run.connector, run.events));
  }
  if (unreachable(with_new.outcome)) {
    return run.finish(EventKind::kFailed, Outcome::kInDoubt,
                      "verify: " + describe(with_new) + "; the new password stays pending");
  }
  std::string checked = "; the old one is refused";
  if (options.check_old_refused) {
    const LoginResult with_old = run.connector.try_login(run.target, current);
    if (with_old.outcome == LoginOutcome::kAccepted) {
      const std::string why = "verify: the host still accepts the old password after the change";
      run.emit(EventKind::kFailed, why);
      Report settled = recover(run.target, run.vault, run.connector, run.events);
      if (settled.outcome == Outcome::kRecovered) {
        if (auto recorded = run.vault.record_failure(run.target, why); !recorded) {
          settled.message += " (the vault could not record the failure)";
        }
      }
      return prefixed(why + "; ", std::move(settled));
    }
    if (with_old.outcome != LoginOutcome::kRefused) {
      checked = "; the old one could not be tried: " + describe(with_old);
    }
  } else {
    checked = "; the old one was not tried (check_old_refused is off)";
  }
  if (auto promoted = run.vault.promote_pending(run.target); !promoted) {
    return run.finish(EventKind::kFailed, Outcome::kError,
                      "the new password logs in but the vault could not promote it (" +
                          promoted.error().message + "): it stays pending until recovery");
  }
  return run.finish(EventKind::kVerified, Outcome::kRotated, "the new password logs in" + checked);
}

}  // namespace

const char* to_string(EventKind kind) {
  switch (kind) {
    case EventKind::kStart:
      return "rotation.start";
    case EventKind::kChanged:
      return "rotation.changed";
    case EventKind::kVerified:
      return "rotation.verified";
    case EventKind::kFailed:
      return "rotation.failed";
    case EventKind::kRecovered:
      return "rotation.recovered";
    case EventKind::kUnknown:
      return "rotation.unknown";
  }
  return "rotation.unknown";
}

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::kRotated:
      return "rotated";
    case Outcome::kUnchanged:
      return "unchanged";
    case Outcome::kRecovered:
      return "recovered";
    case Outcome::kInDoubt:
      return "in doubt";
    case Outcome::kUnknown:
      return "unknown";
    case Outcome::kError:
      return "error";
  }
  return "error";
}

Report rotate(const Target& target, VaultPort& vault, Connector& connector,
              const SecretSource& next_secret, const EventSink& events,
              const EngineOptions& options) {
  const Run run{target, vault, connector, events};
  Result<Versions> versions = vault.load(target);
  if (!versions) return Report{Outcome::kError, "vault: " + versions.error().message};
  if (versions->pending) {
    return prefixed("an earlier rotation is in doubt: ", recover(target, vault, connector, events));
  }
  if (!versions->current) return Report{Outcome::kError, "no vaulted secret to rotate from"};
  run.emit(EventKind::kStart, "generate, store as pending, change, verify");
  Result<Secret> next = store_new_secret(run, next_secret, std::max(1, options.generate_attempts));
  if (!next) return run.finish(EventKind::kFailed, Outcome::kError, next.error().message);
  const Secret& current = *versions->current;
  const ChangeResult change = connector.change(target, current, *next);
  switch (change.outcome) {
    case ChangeOutcome::kChanged:
      run.emit(EventKind::kChanged, describe(change));
      return verify(run, current, *next, options);
    case ChangeOutcome::kRefusedOld:
    case ChangeOutcome::kHostKeyMismatch:
    case ChangeOutcome::kPasswordRejected:
    // kUnreachable: nothing was sent (connector.hpp), so the host kept the current secret.
    case ChangeOutcome::kUnreachable:
      return keep_current(run, "change: " + describe(change));
    case ChangeOutcome::kUnknown:
      break;
  }
  const std::string why = "change: " + describe(change);
  run.emit(EventKind::kFailed, why + "; asking the host which password it accepts");
  return prefixed(why + "; ", recover(target, vault, connector, events));
}

Report recover(const Target& target, VaultPort& vault, Connector& connector,
               const EventSink& events) {
  const Run run{target, vault, connector, events};
  Result<Versions> versions = vault.load(target);
  if (!versions) return Report{Outcome::kError, "vault: " + versions.error().message};
  if (!versions->pending) return Report{Outcome::kUnchanged, "nothing pending"};
  return settle(run, *versions);
}

}  // namespace sekisho::rotation
