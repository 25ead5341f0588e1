// What a granted session's file-transfer tracker saw, into the recording and to the core
// (docs/ssh_gateway.md "File transfers"); the parsing itself is file_transfer.hpp's.
#include <optional>
#include <string>
#include <vector>

#include "worker/ssh/session_worker_state.hpp"

namespace sekisho::worker::detail {

namespace {

void record_marker(Worker& w, std::string text) {
  recorder::Record m;
  m.kind = recorder::RecordKind::kMarker;
  m.data = std::move(text);
  w.record(std::move(m));
}

// Each completed transfer: a kFileTransfer record (a zero digest and a marker with the reason
// when the hash could not be computed) and the core's session.file_transfer audit event.
void report_transfers(Worker& w, std::vector<TransferEvent> events, const char* protocol) {
  for (auto& e : events) {
    recorder::Record r;
    r.kind = recorder::RecordKind::kFileTransfer;
    r.transfer.upload = e.upload;
    r.transfer.path = e.path;
    r.transfer.size = e.size;
    if (e.sha256) r.transfer.sha256 = *e.sha256;
    w.record(std::move(r));
    if (!e.note.empty()) record_marker(w, "file " + e.path + ": " + e.note);
    json body = {{"type", "file_transfer"},
                 {"path", e.path},
                 {"direction", e.upload ? "upload" : "download"},
                 {"size", e.size},
                 {"sha256", e.sha256 ? hex_encode(*e.sha256) : std::string()},
                 {"protocol", protocol}};
    if (!e.note.empty()) body["note"] = e.note;
    if (!w.ended) (void)w.core.ask(body);
  }
}

// Each SFTP request that changed the target: a recording marker and the core's
// session.file_change audit event (the file_transfer message with an "operation").
void report_changes(Worker& w, std::vector<FileChange> changes) {
  for (auto& c : changes) {
    record_marker(w, "file " + c.operation + " " + c.path +
                         (c.new_path.empty() ? "" : " -> " + c.new_path) + " (" + c.result + ")");
    json body = {{"type", "file_transfer"},
                 {"operation", c.operation},
                 {"path", c.path},
                 {"result", c.result},
                 {"protocol", "sftp"}};
    if (!c.new_path.empty()) body["new_path"] = c.new_path;
    if (!w.ended) (void)w.core.ask(body);
  }
}

}  // namespace

std::optional<std::string> start_tracking(Worker& w) {
  const TransferPolicy policy{w.grant.value("allow_upload", true),
                              w.grant.value("allow_download", true)};
  if (w.start == Start::kSftp) {
    w.sftp = std::make_unique<SftpFilter>(policy);
    return std::nullopt;
  }
  if (w.start != Start::kExec) return std::nullopt;
  w.scp = ScpTracker::from_command(w.command);
  if (!w.scp || (w.scp->upload() ? policy.upload : policy.download)) return std::nullopt;
  const std::string what = w.scp->upload() ? "upload" : "download";
  w.report_refusal(what, w.scp->path());
  refuse_session(w, what + " is refused by the gateway's policy");
  w.scp.reset();
  return what + " refused by policy";
}

void report_tracked(Worker& w) {
  if (w.sftp) {
    for (const auto& refused : w.sftp->take_refusals()) {
      const auto sp = refused.find(' ');
      w.report_refusal(refused.substr(0, sp), refused.substr(sp + 1));
    }
    report_transfers(w, w.sftp->take_events(), "sftp");
    report_changes(w, w.sftp->take_changes());
  } else if (w.scp) {
    report_transfers(w, w.scp->take_events(), "scp");
  }
}

std::string end_unfollowed(Worker& w) {
  const std::string protocol = w.sftp ? "sftp" : "scp";
  const std::string why = w.sftp ? w.sftp->lost_reason() : w.scp->lost_reason();
  const std::string shown = w.sftp ? "SFTP" : "scp";
  tell_user(w, "sekisho: the " + shown + " stream cannot be followed; the session is ended",
            protocol + " not followed: " + why);
  ssh_channel_close(w.target_channel);
  ssh_channel_send_eof(w.channel);
  ssh_channel_close(w.channel);
  return protocol + " stream not followed";
}

}  // namespace sekisho::worker::detail
