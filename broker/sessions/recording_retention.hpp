// The recordings' disk: a cap on their total size, a floor of free space, and retention (ended
// sessions' recordings deleted after [recordings] keep). A session is never run unrecorded, so
// when the disk is full new sessions are refused rather than started without a recording.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "broker/daemon/config.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// What the recordings take and what is left on their file system.
struct RecordingDiskUsage {
  std::uint64_t recordings_bytes = 0;  // every file in the recordings directory
  std::uint64_t free_bytes = 0;        // available to the daemon (statvfs f_bavail)
};

// Why a new session cannot be recorded under `policy` with `usage` (one line naming the limit),
// or nullopt when there is room. The cap is reached when the recordings take max_total_bytes or
// more; the floor when less than min_free_bytes is free. Pure function; any thread.
std::optional<std::string> recording_disk_full(const RecordingsConfig& policy,
                                               const RecordingDiskUsage& usage);

// Measures `recordings_dir` (a missing directory holds nothing) and the free space of the file
// system it is on (of its parent while it does not exist yet). Blocking; any thread.
[[nodiscard]] Result<RecordingDiskUsage> measure_recording_disk(
    const std::filesystem::path& recordings_dir);

// Checks the room for one more recording in `dir` under `policy`. kUnavailable with the
// recording_disk_full() line when there is none, kIo when the disk cannot be measured (a session
// that cannot be shown to fit is not started either). Blocking; any thread.
[[nodiscard]] Result<void> check_recording_room(const RecordingsConfig& policy,
                                                const storage::DataDir& dir);

// The message a refused client sees.
inline constexpr char kRecordingDiskFullMessage[] =
    "the gateway's recording disk is full; new sessions are refused";

// Deletes the recordings of sessions that ended more than `keep` ago. Open sessions are never
// touched. Each deletion removes the file and its index files, marks the session row (which
// stays, with its hash and size) and audits recording.deleted with the session id and the
// recording hash. Not thread-safe: one thread (the daemon's ticker) runs it.
class RecordingRetention {
 public:
  // Everything passed must outlive the object. keep == 0 disables retention.
  RecordingRetention(storage::Store& store, storage::AuditLog& audit, const storage::DataDir& dir,
                     const Clock& clock, std::chrono::seconds keep);

  // One pass: deletes up to kBatch expired recordings, oldest first. Returns how many were
  // deleted. A file that is already gone (a pass cut short after the unlink) is still marked and
  // audited; a file that cannot be removed stops the pass with kIo and is left marked as kept.
  [[nodiscard]] Result<std::size_t> run();
  // Runs a pass when one is due: every keep/10 (at least 1 s, at most 1 h), and at once again
  // after a pass that found a full batch. Returns 0 without a pass when none is due.
  [[nodiscard]] Result<std::size_t> run_if_due();

  static constexpr std::size_t kBatch = 500;

 private:
  [[nodiscard]] Result<void> delete_one(const std::string& id, const std::string& relative_path,
                                        const std::string& hash, std::uint64_t size,
                                        const std::string& actor, const std::string& target);

  storage::Store& store_;
  storage::AuditLog& audit_;
  const storage::DataDir& dir_;
  const Clock& clock_;
  std::chrono::seconds keep_;
  std::optional<TimePoint> next_pass_;
};

}  // namespace sekisho::broker
