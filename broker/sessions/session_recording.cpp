#include "broker/sessions/session_recording.hpp"

#include <sys/stat.h>

#include <chrono>
#include <system_error>

#include "base/files.hpp"
#include "base/logging.hpp"

namespace sekisho::broker {

namespace {

namespace fs = std::filesystem;

// The recordings directory, created 0700; an existing one must be a real directory (not a
// symlink that would send recordings elsewhere).
Result<void> ensure_recordings_dir(const storage::DataDir& dir) {
  const fs::path path = dir.recordings();
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail(ErrorCode::kIo, "cannot create " + path.string() + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(ErrorCode::kIo, path.string() + " is not a directory");
  }
  if ((st.st_mode & 077) != 0 && ::chmod(path.c_str(), 0700) != 0) {
    return fail(ErrorCode::kIo, "cannot make " + path.string() + " private: " + errno_text(errno));
  }
  return ok();
}

std::int64_t unix_us(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

Result<std::unique_ptr<SessionRecording>> SessionRecording::start(
    storage::Store& store, storage::AuditLog& audit, const storage::DataDir& dir,
    const SigningKey& signer, const Clock& clock, const SessionStart& what) {
  storage::SessionTarget target;
  auto resolved = store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto t = storage::resolve_session_target(tx, what.user, what.account, what.host);
    if (!t) return tl::make_unexpected(t.error());
    target = std::move(*t);
    return ok();
  });
  if (!resolved) return tl::make_unexpected(resolved.error());
  auto key = storage::recording_key(store);
  if (!key) return tl::make_unexpected(key.error());
  if (auto r = ensure_recordings_dir(dir); !r) return tl::make_unexpected(r.error());

  std::unique_ptr<SessionRecording> s(new SessionRecording(store, audit, signer, clock));
  s->id_ = storage::new_session_id();
  s->actor_ = what.user;
  s->target_ = what.account + "@" + what.host;
  const std::string relative = "recordings/" + s->id_ + ".skr";
  s->file_ = dir.root() / relative;
  const TimePoint now = clock.now();

  recorder::Header header;
  header.session_id = s->id_;
  header.user = what.user;
  header.host = what.host;
  header.account = what.account;
  header.request_id = what.request_id.value_or("");
  header.protocol = target.protocol;
  header.start_unix_us = unix_us(now);
  header.cols = what.cols;
  header.rows = what.rows;
  auto data_key = recorder::new_data_key(*key, s->id_);
  if (!data_key) return tl::make_unexpected(data_key.error());
  auto writer =
      recorder::Writer::create(s->file_, header, std::move(*data_key), signer.public_pem());
  if (!writer) return tl::make_unexpected(writer.error());
  s->writer_ = std::move(*writer);  // the writer creates the file 0600, never over another

  storage::NewSession row{s->id_, what.request_id, target, format_time(now), relative};
  auto inserted = store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (auto r = storage::insert_session(tx, row); !r) return r;
    auto seq = audit.append(tx, {what.user,
                                 "session.start",
                                 s->target_,
                                 {{"session", s->id_},
                                  {"protocol", target.protocol},
                                  {"request", what.request_id.value_or("")},
                                  {"recording", relative}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
  if (!inserted) {
    s->writer_.reset();
    std::error_code ec;
    fs::remove(s->file_, ec);
    s->finished_ = true;
    return tl::make_unexpected(inserted.error());
  }
  return s;
}

SessionRecording::~SessionRecording() {
  // A session row exists once start() returned: it must not stay "open" forever.
  if (writer_ && !finished_) (void)finish("gateway error: the session was not ended properly");
}

Result<void> record_session_end(storage::Store& store, storage::AuditLog& audit,
                                const std::string& actor, const std::string& target,
                                const std::string& session_id, const storage::SessionEnd& end) {
  return store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (auto r = storage::finish_session(tx, session_id, end); !r) return r;
    nlohmann::json details = {{"session", session_id},
                              {"reason", end.end_reason},
                              {"recording_hash", end.recording_hash},
                              {"recording_size", end.recording_size},
                              {"duration_us", end.duration_us}};
    // The hash is of the core's seal: the session was cut, not closed by its worker.
    if (end.recording_sealed) details["recording_sealed"] = true;
    auto seq = audit.append(tx, {actor, "session.end", target, std::move(details)});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
}

Result<recorder::RecordingSummary> SessionRecording::finish(const std::string& end_reason) {
  if (finished_ || !writer_) {
    return fail(ErrorCode::kInternal, "session " + id_ + " already finished");
  }
  finished_ = true;
  auto summary = writer_->close([this](ByteView message) { return signer_.sign(message); });
  storage::SessionEnd end;
  end.ended_at = format_time(clock_.now());
  end.end_reason = end_reason;
  if (summary) {
    end.recording_hash = summary->final_hash;
    end.recording_size = summary->size_bytes;
    end.duration_us = summary->duration_us;
  } else {
    end.end_reason += "; recording not closed: " + summary.error().message;
    std::error_code ec;
    end.recording_size = static_cast<std::uint64_t>(fs::file_size(file_, ec));
    if (ec) end.recording_size = 0;
  }
  auto recorded = record_session_end(store_, audit_, actor_, target_, id_, end);
  if (!recorded) {
    module_logger("recorder")
        ->error("session {}: cannot record its end: {}", id_, recorded.error().message);
    return tl::make_unexpected(recorded.error());
  }
  return summary;
}

Result<std::filesystem::path> recording_file(const storage::DataDir& dir,
                                             const storage::SessionRecord& session) {
  if (!session.recording_deleted_at.empty()) {
    return fail(ErrorCode::kNotFound, "session " + session.id +
                                          ": recording deleted by retention on " +
                                          session.recording_deleted_at);
  }
  const fs::path relative(session.recording_path);
  const bool inside = relative.has_filename() && relative.parent_path() == "recordings" &&
                      relative.filename() == fs::path(session.id + ".skr");
  if (!inside) {
    return fail(ErrorCode::kCorrupt,
                "session " + session.id + " names a recording outside the recordings directory");
  }
  return dir.root() / relative;
}

Result<std::unique_ptr<recorder::Reader>> open_recording(storage::Store& store,
                                                         const storage::DataDir& dir,
                                                         const storage::SessionRecord& session) {
  auto path = recording_file(dir, session);
  if (!path) return tl::make_unexpected(path.error());
  auto key = storage::recording_key(store);
  if (!key) return tl::make_unexpected(key.error());
  auto reader = recorder::Reader::open(
      *path, [&](const recorder::Header& header, ByteView wrapped) -> Result<Secret> {
        if (header.session_id != session.id) {
          return fail(ErrorCode::kCorrupt, "the recording of session " + session.id +
                                               " is the recording of another session");
        }
        return recorder::unwrap_data_key(*key, header.session_id, wrapped);
      });
  if (!reader) {
    return fail(reader.error().code,
                "recording of session " + session.id + ": " + reader.error().message);
  }
  return reader;
}

Result<EventPage> read_event_page(recorder::Reader& reader, std::int64_t from_us, std::int64_t skip,
                                  std::size_t max_bytes) {
  EventPage page;
  std::size_t bytes = 0;
  std::int64_t last_at = -1, run = 0;  // records consumed so far that are stamped last_at
  auto r = reader.replay(from_us, [&](const recorder::Record& rec) {
    const bool same = rec.at_us == last_at;
    if (rec.at_us == from_us && skip > 0) {
      --skip;
      last_at = rec.at_us;
      run = same ? run + 1 : 1;
      return true;
    }
    const std::size_t cost = rec.data.size() + rec.transfer.path.size() + kEventOverhead;
    if (!page.records.empty() && bytes + cost > max_bytes) {
      page.next = {rec.at_us, same ? run : 0};
      return false;
    }
    page.records.push_back(rec);
    bytes += cost;
    last_at = rec.at_us;
    run = same ? run + 1 : 1;
    return true;
  });
  if (!r) return tl::make_unexpected(r.error());
  return page;
}

}  // namespace sekisho::broker
