#include "broker/sessions/recording_retention.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <system_error>

#include "base/files.hpp"
#include "base/logging.hpp"
#include "broker/sessions/session_recording.hpp"
#include "recorder/recording.hpp"
#include "storage/sessions.hpp"

namespace sekisho::broker {

namespace {

namespace fs = std::filesystem;

// Removes `path`; one that is already gone counts as removed.
Result<void> remove_file(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return fail(ErrorCode::kIo, "cannot delete " + path.string() + ": " + ec.message());
  }
  return ok();
}

}  // namespace

std::optional<std::string> recording_disk_full(const RecordingsConfig& policy,
                                               const RecordingDiskUsage& usage) {
  if (policy.max_total_bytes > 0 && usage.recordings_bytes >= policy.max_total_bytes) {
    return "recordings take " + std::to_string(usage.recordings_bytes) +
           " bytes, max_total_bytes is " + std::to_string(policy.max_total_bytes);
  }
  if (usage.free_bytes < policy.min_free_bytes) {
    return std::to_string(usage.free_bytes) + " bytes free on the recordings' disk, " +
           "min_free_bytes is " + std::to_string(policy.min_free_bytes);
  }
  return std::nullopt;
}

Result<RecordingDiskUsage> measure_recording_disk(const fs::path& recordings_dir) {
  RecordingDiskUsage usage;
  std::error_code ec;
  const bool present = fs::is_directory(recordings_dir, ec);
  // Each file's size as the recorder wrote it (not its blocks): the cap is what an operator
  // reads in `ls -l` and `sekisho sessions`.
  if (present) {
    for (fs::directory_iterator it(recordings_dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code size_ec;
      if (!it->is_regular_file(size_ec)) continue;
      const auto size = it->file_size(size_ec);
      if (!size_ec) usage.recordings_bytes += size;  // a file deleted meanwhile is not counted
    }
    if (ec) {
      return fail(ErrorCode::kIo, "cannot list " + recordings_dir.string() + ": " + ec.message());
    }
  }
  const fs::path on = present ? recordings_dir : recordings_dir.parent_path();
  struct statvfs st {};
  if (::statvfs(on.c_str(), &st) != 0) {
    return fail(ErrorCode::kIo,
                "cannot read the free space of " + on.string() + ": " + errno_text(errno));
  }
  usage.free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  return usage;
}

Result<void> check_recording_room(const RecordingsConfig& policy, const storage::DataDir& dir) {
  if (policy.max_total_bytes == 0 && policy.min_free_bytes == 0) return ok();
  auto usage = measure_recording_disk(dir.recordings());
  if (!usage) return tl::make_unexpected(usage.error());
  if (auto full = recording_disk_full(policy, *usage)) {
    return fail(ErrorCode::kUnavailable, *full);
  }
  return ok();
}

RecordingRetention::RecordingRetention(storage::Store& store, storage::AuditLog& audit,
                                       const storage::DataDir& dir, const Clock& clock,
                                       std::chrono::seconds keep)
    : store_(store), audit_(audit), dir_(dir), clock_(clock), keep_(keep) {}

Result<std::size_t> RecordingRetention::run() {
  if (keep_.count() <= 0) return std::size_t{0};
  const TimePoint now = clock_.now();
  std::vector<storage::SessionRecord> expired;
  auto read = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto rows = storage::expired_recordings(tx, format_time(now - keep_), kBatch);
    if (!rows) return tl::make_unexpected(rows.error());
    expired = std::move(*rows);
    return ok();
  });
  if (!read) return tl::make_unexpected(read.error());
  std::size_t deleted = 0;
  for (const auto& s : expired) {
    auto r = delete_one(s.id, s.recording_path, s.recording_hash, s.recording_size, s.user,
                        s.account + "@" + s.host);
    if (!r) return tl::make_unexpected(r.error());
    ++deleted;
  }
  if (deleted > 0) {
    module_logger("recorder")
        ->info("retention deleted {} recordings older than {}", deleted, format_duration(keep_));
  }
  return deleted;
}

Result<void> RecordingRetention::delete_one(const std::string& id, const std::string& relative_path,
                                            const std::string& hash, std::uint64_t size,
                                            const std::string& actor, const std::string& target) {
  storage::SessionRecord where;
  where.id = id;
  where.recording_path = relative_path;
  // A row that names a file outside the recordings directory is refused, never followed.
  auto file = recording_file(dir_, where);
  if (!file) return tl::make_unexpected(file.error());
  // The files go first: a pass cut short here leaves the row kept, and the next pass finds the
  // files gone and marks it then. The other order could leave a file no pass would look at.
  for (const auto& path :
       {recorder::seek_index_path(*file), recorder::text_index_path(*file), *file}) {
    if (auto r = remove_file(path); !r) return r;
  }
  if (auto r = fsync_directory(dir_.recordings()); !r) return r;
  const std::string at = format_time(clock_.now());
  return store_.transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (auto r = storage::mark_recording_deleted(tx, id, at); !r) return r;
    auto seq = audit_.append(tx, {"sekishod",
                                  "recording.deleted",
                                  target,
                                  {{"session", id},
                                   {"user", actor},
                                   {"recording_hash", hash},
                                   {"recording_size", size},
                                   {"keep", format_duration(keep_)},
                                   {"reason", "retention"}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
}

Result<std::size_t> RecordingRetention::run_if_due() {
  if (keep_.count() <= 0) return std::size_t{0};
  const TimePoint now = clock_.now();
  if (next_pass_ && now < *next_pass_) return std::size_t{0};
  auto deleted = run();
  const auto interval =
      std::clamp<std::chrono::seconds>(keep_ / 10, std::chrono::seconds(1), std::chrono::hours(1));
  // A full batch means more may be waiting: the next tick goes on with them.
  next_pass_ = deleted && *deleted == kBatch ? now : now + interval;
  return deleted;
}

}  // namespace sekisho::broker
