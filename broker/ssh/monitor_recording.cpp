// The recording requests of the core's conversation with an SSH worker: open_recording (the core
// creates the file and hands over its descriptor and data key, or refuses a session it cannot
// record), sign (the chain end of that file only), session_end, and the sealing of a session the
// worker left open.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "base/files.hpp"
#include "base/logging.hpp"
#include "broker/sessions/recording_retention.hpp"
#include "broker/sessions/session_recording.hpp"
#include "broker/sessions/session_seal.hpp"
#include "broker/ssh/monitor_state.hpp"
#include "recorder/recording.hpp"
#include "storage/sessions.hpp"
#include "storage/vault.hpp"

namespace sekisho::broker::monitor_detail {

namespace {

// Nice value of a monitor thread while it builds a closed recording's index files.
constexpr int kIndexNice = 10;

std::int64_t unix_us(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

Result<void> ensure_recordings_dir(const storage::DataDir& dir) {
  const auto path = dir.recordings();
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail(ErrorCode::kIo, "cannot create " + path.string() + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(ErrorCode::kIo, path.string() + " is not a directory");
  }
  return ok();
}

}  // namespace

json Monitor::open_recording(json& body, wire::Fd& to_pass) {
  if (auto room = check_recording_room(ctx_.recordings, ctx_.dir); !room) {
    return refuse_unrecordable(room.error());
  }
  const int cols = std::clamp(body.value("cols", 80), 1, 1000);
  const int rows = std::clamp(body.value("rows", 24), 1, 1000);
  auto opened =
      start_recording(static_cast<std::uint16_t>(cols), static_cast<std::uint16_t>(rows), to_pass);
  if (!opened) {
    stage_ = Stage::kEnded;
    module_logger("ssh")->error("session for {}: cannot open its recording: {}", user_,
                                opened.error().message);
    return refusal("the gateway cannot record this session; refused");
  }
  stage_ = Stage::kRecording;
  return *opened;
}

// No room for one more recording: the session is refused, since it would otherwise run
// unrecorded. Audited and logged at error (the operator's alert): users are turned away.
json Monitor::refuse_unrecordable(const Error& why) {
  stage_ = Stage::kEnded;
  const bool full = why.code == ErrorCode::kUnavailable;
  const std::string reason = full ? "recording disk full" : "recording disk not measurable";
  module_logger("ssh")->error("session of {} to {} refused: {}: {}", user_, target_, reason,
                              why.message);
  (void)audit(user_, "session.refused",
              {{"reason", reason}, {"detail", why.message}, {"request", request_}});
  if (full) alert_disk_full(why.message);
  return refusal(full ? kRecordingDiskFullMessage
                      : "the gateway cannot record this session; refused");
}

// Tells the operator's webhooks, at most once per the gateway's alert window.
void Monitor::alert_disk_full(const std::string& detail) {
  if (ctx_.notifier == nullptr) return;
  if (ctx_.disk_alerts != nullptr &&
      ctx_.disk_alerts->admit("recording disk").verdict != AuditRateLimit::Verdict::kAudit) {
    return;
  }
  ctx_.notifier->notify(
      {"recording.disk_full",
       "Sekisho: the recording disk is full; new sessions are refused (" + detail + ")",
       {{"detail", detail}, {"user", user_}, {"target", target_}}});
}

// Creates the session: its row and session.start event, then the recording file. The reply
// holds the file's data key and the recording header; the descriptor goes in `to_pass`.
Result<json> Monitor::start_recording(std::uint16_t cols, std::uint16_t rows, wire::Fd& to_pass) {
  storage::SessionTarget target;
  auto resolved = ctx_.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto t = storage::resolve_session_target(tx, user_, account_, host_);
    if (!t) return tl::make_unexpected(t.error());
    target = std::move(*t);
    return ok();
  });
  if (!resolved) return tl::make_unexpected(resolved.error());
  auto key = storage::recording_key(ctx_.store);
  if (!key) return tl::make_unexpected(key.error());
  if (auto r = ensure_recordings_dir(ctx_.dir); !r) return tl::make_unexpected(r.error());
  const std::string id = storage::new_session_id();
  auto data_key = recorder::new_data_key(*key, id);
  if (!data_key) return tl::make_unexpected(data_key.error());
  const TimePoint now = ctx_.clock.now();
  if (auto r = insert_session_row(id, target, now); !r) return tl::make_unexpected(r.error());
  session_ = id;
  publish_session(id);
  auto file = create_recording_file(id);
  if (!file) return tl::make_unexpected(file.error());
  to_pass = std::move(*file);
  return json{{"ok", true},
              {"session", id},
              {"file", id + ".skr"},
              {"data_key", hex_encode(data_key->key.bytes())},
              {"wrapped_key", hex_encode(data_key->wrapped)},
              {"signer_pem", ctx_.signer.public_pem()},
              {"queue_bytes", ctx_.limits.recording_queue_bytes},
              {"header",
               {{"user", user_},
                {"host", host_},
                {"account", account_},
                {"request", request_},
                {"start_unix_us", unix_us(now)},
                {"cols", cols},
                {"rows", rows}}}};
}

// The session's row and its session.start event, in one transaction.
Result<void> Monitor::insert_session_row(const std::string& id,
                                         const storage::SessionTarget& target, TimePoint now) {
  const std::string relative = "recordings/" + id + ".skr";
  storage::NewSession row{id, request_, target, format_time(now), relative};
  return ctx_.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (auto r = storage::insert_session(tx, row); !r) return r;
    auto seq = ctx_.audit.append(tx, {user_,
                                      "session.start",
                                      target_,
                                      {{"session", id},
                                       {"protocol", "ssh"},
                                       {"request", request_},
                                       {"recording", relative},
                                       {"peer", peer_},
                                       {"target_source_port", target_source_port_}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
}

// Tells the gateway's window check and kill which session, request and window this worker has.
void Monitor::publish_session(const std::string& id) {
  if (link_ == nullptr) return;
  std::lock_guard lock(link_->mu);
  link_->session_id = id;
  link_->request_id = request_;
  link_->user = user_;
  link_->target = target_;
  link_->window_end = window_end_;
}

// The core creates the file and passes only its descriptor: the worker never holds a handle
// of the recordings directory (docs/ssh_gateway.md "Worker privileges").
Result<wire::Fd> Monitor::create_recording_file(const std::string& id) {
  const auto file = ctx_.dir.recordings() / (id + ".skr");
  wire::Fd file_fd(
      ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!file_fd) {
    return fail(ErrorCode::kIo, "cannot create " + file.string() + ": " + errno_text(errno));
  }
  if (auto r = fsync_directory(ctx_.dir.recordings()); !r) return tl::make_unexpected(r.error());
  return file_fd;
}

// Signs the session's closing record, and nothing else: the key also signs the audit
// checkpoints, so the core signs only the chain end of the recording file it created, checked
// by reading that file here (the message's label also keeps it apart from a checkpoint's).
json Monitor::sign(json& body, wire::Fd& /*to_pass*/) {
  auto message = hex_decode_secret(one_line(body, "message", wire::kMaxMessage));
  if (!message) return refusal("bad message to sign");
  const auto path = ctx_.dir.recordings() / (session_ + ".skr");
  if (auto checked = recorder::check_closing_message(path, message->bytes()); !checked) {
    (void)audit(user_, "ssh.sign_refused", {{"reason", checked.error().message}});
    return refusal("the core signs only the chain end of this session's recording");
  }
  auto signature = ctx_.signer.sign(message->bytes());
  if (!signature) return refusal("signing failed");
  stage_ = Stage::kSigned;  // once per session: a worker cannot collect signatures
  return {{"ok", true}, {"signature", hex_encode(*signature)}};
}

json Monitor::session_end(json& body, wire::Fd& /*to_pass*/) {
  const std::string hash = finish(one_line(body, "reason"));
  return {{"ok", true}, {"recording_hash", hash}};
}

// Ends the session row from what the file proves, not from what the worker claims: the final
// hash and size come from verifying the recording with the gateway's public key.
std::string Monitor::finish(const std::string& reason) {
  stage_ = Stage::kEnded;
  storage::SessionEnd end;
  end.ended_at = format_time(ctx_.clock.now());
  end.end_reason = reason.empty() ? "closed" : reason;
  if (link_ != nullptr) {
    // When the core closed the session, its own reason is the end reason, not the worker's.
    std::lock_guard lock(link_->mu);
    link_->ended = true;
    if (!link_->close_reason.empty()) {
      end.end_reason = link_->close_reason;
      if (link_->killed) end.end_reason += "; the worker did not end and was killed";
    }
  }
  const auto path = ctx_.dir.recordings() / (session_ + ".skr");
  auto report = recorder::verify(path, ctx_.signer.public_pem());
  if (report && report->ok()) {
    end.recording_hash = report->final_hash;
    end.recording_size = report->size_bytes;
    end.duration_us = report->duration_us;
    indexes_due_ = true;
  } else {
    end.end_reason += "; recording not closed: ";
    end.end_reason += report ? (report->problems.empty() ? "no valid closing signature"
                                                         : report->problems.front())
                             : report.error().message;
    if (report) end.recording_size = report->size_bytes;
  }
  auto done = record_session_end(ctx_.store, ctx_.audit, user_, target_, session_, end);
  if (!done) {
    module_logger("ssh")->error("session {}: cannot record its end: {}", session_,
                                done.error().message);
  }
  return end.recording_hash;
}

// The worker is gone without ending its session (killed, crashed, or cut off for a protocol
// violation): once it can no longer write, the core seals what it recorded ("worker died").
void Monitor::seal_unended() {
  stage_ = Stage::kEnded;
  std::string reason = "worker died: the session worker ended without closing the session";
  if (link_ != nullptr) {
    std::lock_guard lock(link_->mu);
    link_->ended = true;  // from here on nothing signals the pid: it may be reaped
    if (!link_->close_reason.empty()) {
      reason = link_->close_reason;
      if (link_->killed) reason += "; the worker did not end and was killed";
    }
  }
  const auto path = ctx_.dir.recordings() / (session_ + ".skr");
  if (wait_for_exit_) {
    wait_for_exit_();
  } else if (auto stopped = stop_writer(path, std::chrono::steady_clock::now() + kWriterGrace);
             !stopped) {
    module_logger("ssh")->error("session {}: {}", session_, stopped.error().message);
  }
  auto sealed = [&]() -> Result<void> {
    std::optional<storage::SessionRecord> row;
    auto read = ctx_.store.read([&](storage::Store::Tx& tx) -> Result<void> {
      auto found = storage::find_session(tx, session_);
      if (!found) return tl::make_unexpected(found.error());
      row = std::move(*found);
      return ok();
    });
    if (!read) return read;
    if (!row) return fail(ErrorCode::kNotFound, "no session row");
    return seal_session({ctx_.store, ctx_.audit, ctx_.dir, ctx_.signer, ctx_.clock}, *row,
                        recorder::SealReason::kWorkerDied, reason);
  }();
  if (!sealed) {
    module_logger("ssh")->error("session {}: cannot record its end: {}", session_,
                                sealed.error().message);
  }
}

// The worker wrote its recording through a descriptor and could not create the seek and text
// index files beside it; the core writes them once the recording is closed and verified.
// Decoding a whole recording is bulk work that live sessions should not wait for: this thread
// (one per worker, ending with its connection) first lowers its own priority.
void Monitor::write_index_files() {
  indexes_due_ = false;
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kIndexNice);
  auto r = [&]() -> Result<void> {
    auto key = storage::recording_key(ctx_.store);
    if (!key) return tl::make_unexpected(key.error());
    auto reader = recorder::Reader::open(
        ctx_.dir.recordings() / (session_ + ".skr"),
        [&](const recorder::Header& header, ByteView wrapped) -> Result<Secret> {
          return recorder::unwrap_data_key(*key, header.session_id, wrapped);
        });
    if (!reader) return tl::make_unexpected(reader.error());
    return (*reader)->write_indexes();
  }();
  if (!r) {
    module_logger("ssh")->warn("session {}: no index files ({}); replay and search still work",
                               session_, r.error().message);
  }
}

}  // namespace sekisho::broker::monitor_detail
