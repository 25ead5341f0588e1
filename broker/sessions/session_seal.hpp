// Sessions the core ends itself because their worker cannot: the ones a stopped gateway left
// open (sealed at start-up, before the listeners open) and one whose worker died alone (sealed
// when the worker is reaped). Both make sure no process can still write the recording, seal it
// with the gateway's key (recorder::seal_recording: the core signs only the chain it verified)
// and end the session as any session ends (record_session_end: row + session.end audit event).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/result.hpp"
#include "recorder/recording.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"
#include "storage/sessions.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

struct SealContext {
  storage::Store& store;
  storage::AuditLog& audit;
  const storage::DataDir& dir;
  const SigningKey& signer;
  const Clock& clock;
};

// How long start-up waits for a previous run's worker to let go of its recording (it flushes and
// exits when its core dies) before it kills that worker.
inline constexpr std::chrono::seconds kWriterGrace{5};

// Makes sure no process holds `file`'s writer lock: waits until `deadline` for it to be let go,
// then kills the holder (SIGKILL through a pidfd, opened before checking once more that this pid
// still holds the lock, so a reused pid is never signalled) and waits a bounded time for the lock
// to go. Returns the pid it killed (0: none); kAlreadyExists when the lock is still held.
// Blocking; any thread.
[[nodiscard]] Result<pid_t> stop_writer(const std::filesystem::path& file,
                                        std::chrono::steady_clock::time_point deadline);

// Seals the recording of `session` (open; its writer is gone: see stop_writer) with `reason` and
// ends the session: "incomplete" with `end_reason`, the sealed recording's hash, size and
// duration, and a session.end event carrying them. A recording that cannot be sealed (missing,
// chain broken) still ends the session, as incomplete without a hash, with why in the end reason;
// one its worker had closed ends as closed. Blocking; any thread.
[[nodiscard]] Result<void> seal_session(const SealContext& ctx,
                                        const storage::SessionRecord& session,
                                        recorder::SealReason reason, const std::string& end_reason);

// At start-up, before any listener opens: every session still open in the store was left by a
// previous run (nothing of this run has started one). Each is sealed ("gateway stopped") once its
// old worker is gone (stop_writer, one shared deadline of `grace`). Returns how many sessions it
// ended; a session it cannot end stays open and is logged (the next start tries again).
[[nodiscard]] Result<std::size_t> seal_open_sessions(
    const SealContext& ctx, std::chrono::milliseconds grace = kWriterGrace);

}  // namespace sekisho::broker
