// The core's side of recorded sessions: opening one (session row, recording file, audit event),
// closing it (signed recording, final hash and size in the row and the audit log), and reading a
// recording back for the API. The SSH proxy and `sekishod record-demo` share it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/result.hpp"
#include "recorder/recording.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"
#include "storage/sessions.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

struct SessionStart {
  std::string user;
  std::string account;
  std::string host;
  std::optional<std::string> request_id;
  std::uint16_t cols = 80, rows = 24;
};

// Writes the end of a session (its row) and the session.end audit event in one transaction. Used
// by record-demo and by the SSH gateway's monitor, which both own a session's end.
[[nodiscard]] Result<void> record_session_end(storage::Store& store, storage::AuditLog& audit,
                                              const std::string& actor, const std::string& target,
                                              const std::string& session_id,
                                              const storage::SessionEnd& end);

// One session being recorded. Not thread-safe except writer().append(), which any thread may
// call. Everything passed to start() must outlive it.
class SessionRecording {
 public:
  // Resolves the user and ACCOUNT@HOST (refusing unknown or disabled ones), creates
  // DATA_DIR/recordings/<id>.skr (0600, dir 0700) with a fresh data key wrapped by the store's
  // recording key, then inserts the session row and audits session.start in one transaction.
  [[nodiscard]] static Result<std::unique_ptr<SessionRecording>> start(
      storage::Store& store, storage::AuditLog& audit, const storage::DataDir& dir,
      const SigningKey& signer, const Clock& clock, const SessionStart& what);
  ~SessionRecording();
  SessionRecording(const SessionRecording&) = delete;
  SessionRecording& operator=(const SessionRecording&) = delete;

  const std::string& id() const { return id_; }
  const std::filesystem::path& file() const { return file_; }
  recorder::Writer& writer() { return *writer_; }

  // Closes the recording with the gateway's signature and records the end (row + session.end
  // with hash and size). When the recording cannot be closed the session still ends, as
  // "incomplete", and the error is returned. Call once.
  [[nodiscard]] Result<recorder::RecordingSummary> finish(const std::string& end_reason);

 private:
  SessionRecording(storage::Store& store, storage::AuditLog& audit, const SigningKey& signer,
                   const Clock& clock)
      : store_(store), audit_(audit), signer_(signer), clock_(clock) {}

  storage::Store& store_;
  storage::AuditLog& audit_;
  const SigningKey& signer_;
  const Clock& clock_;
  std::string id_;
  std::string actor_;
  std::string target_;
  std::filesystem::path file_;
  std::unique_ptr<recorder::Writer> writer_;
  bool finished_ = false;
};

// The recording file of `session`, which must lie in DATA_DIR/recordings (a row that points
// elsewhere is refused as kCorrupt). kNotFound, with the date, when retention deleted it.
[[nodiscard]] Result<std::filesystem::path> recording_file(const storage::DataDir& dir,
                                                           const storage::SessionRecord& session);

// Opens the recording of `session` with the store's recording key. Refuses a file whose header
// names another session (a recording copied over another one).
[[nodiscard]] Result<std::unique_ptr<recorder::Reader>> open_recording(
    storage::Store& store, const storage::DataDir& dir, const storage::SessionRecord& session);

// One page of a recording's records, for replay over the API: the records from the cursor
// (from_us, skip) — `skip` records stamped exactly from_us were on the previous page — until
// `max_bytes` of record data plus kEventOverhead per record. A page holds at least one record, so
// paging always advances; `next` is the following page's cursor, nullopt at the end.
inline constexpr std::size_t kEventOverhead = 64;
struct EventPage {
  std::vector<recorder::Record> records;
  std::optional<std::pair<std::int64_t, std::int64_t>> next;  // from_us, skip
};
[[nodiscard]] Result<EventPage> read_event_page(recorder::Reader& reader, std::int64_t from_us,
                                                std::int64_t skip, std::size_t max_bytes);

}  // namespace sekisho::broker
