#include "broker/ssh_monitor.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "base/files.hpp"
#include "base/logging.hpp"
#include "broker/session_recording.hpp"
#include "broker/ssh_keys.hpp"
#include "broker/worker_protocol.hpp"
#include "recorder/recording.hpp"
#include "storage/hosts.hpp"
#include "storage/sessions.hpp"
#include "storage/vault.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;
using wire::Stage;

std::int64_t unix_us(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// "type base64" of a key line, ignoring a comment: how two public key lines are compared.
std::string key_blob(const std::string& line) {
  std::istringstream in(line);
  std::string type, b64;
  in >> type >> b64;
  return type + " " + b64;
}

std::string fingerprint_of(const std::string& line) {
  auto parsed = parse_ssh_public_key(key_blob(line));
  return parsed ? parsed->fingerprint : std::string("unknown");
}

// A short one-line text from the worker (a reason, a refused channel's detail); the worker is not
// trusted to keep its words short or printable.
std::string one_line(const json& body, const char* name, std::size_t limit = 200) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) return "";
  std::string s = it->get<std::string>().substr(0, limit);
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
}

json refusal(const std::string& message) { return {{"ok", false}, {"message", message}}; }

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

// Answers one worker. Lives on the worker's monitor thread; the stage only moves forward and
// every request outside the whitelist of the current stage ends the conversation.
class Monitor {
 public:
  Monitor(const SshGatewayContext& ctx, std::string peer) : ctx_(ctx), peer_(std::move(peer)) {}
  ~Monitor() {
    if (stage_ == Stage::kRecording || stage_ == Stage::kSigned) {
      finish("the session worker ended without closing the session");
    }
  }

  void run(int sock, const std::string& host_key) {
    auto log = module_logger("ssh");
    if (auto r = wire::send_message(sock, {{"type", "hello"}, {"host_key", host_key}}); !r) {
      log->error("worker for {}: {}", peer_, r.error().message);
      return;
    }
    for (int i = 0; i < 10000; ++i) {  // a session needs a few dozen requests at most
      auto msg = wire::receive_message(sock);
      if (!msg) {
        if (msg.error().code != ErrorCode::kNotFound) {
          log->warn("worker for {}: {}", peer_, msg.error().message);
        }
        return;
      }
      const std::string type = msg->body["type"].get<std::string>();
      if (!wire::allowed(stage_, type)) {
        log->warn("worker for {} asked '{}' at stage {}; refused", peer_, type.substr(0, 40),
                  wire::stage_name(stage_));
        (void)audit(user_.empty() ? "unknown" : user_, "ssh.protocol_violation",
                    {{"request", type.substr(0, 40)}, {"stage", wire::stage_name(stage_)}});
        return;
      }
      int pass_fd = -1;
      wire::Fd to_pass;
      json reply = dispatch(type, msg->body, to_pass);
      reply["type"] = "reply";
      if (to_pass) pass_fd = to_pass.get();
      const bool sent = wire::send_message(sock, reply, pass_fd).has_value();
      // A reply may hold the target credential or the recording's data key: wipe them here too,
      // not only the serialised copy.
      for (const char* field : {"secret", "data_key"}) {
        (void)wire::take_secret(reply, field);  // the Secret is wiped as it goes out of scope
      }
      if (!sent) return;
    }
  }

 private:
  json dispatch(const std::string& type, json& body, wire::Fd& to_pass) {
    if (type == "auth_pubkey") return auth_pubkey(body);
    if (type == "authorize") return authorize();
    if (type == "refused") return refused(body);
    if (type == "credential") return credential(body);
    if (type == "open_recording") return open_recording(body, to_pass);
    if (type == "sign") return sign(body);
    return session_end(body);
  }

  Result<void> audit(const std::string& actor, const std::string& action, json details) {
    details["peer"] = peer_;
    if (!session_.empty()) details["session"] = session_;
    auto r = ctx_.audit.append({actor, action, target_, std::move(details)});
    if (!r) {
      module_logger("ssh")->error("audit {} failed: {}", action, r.error().message);
      return tl::make_unexpected(r.error());
    }
    return ok();
  }

  json auth_pubkey(const json& body) {
    const std::string target = one_line(body, "target", 140);
    const std::string key = one_line(body, "key", wire::kMaxMessage);
    const bool is_signed = body.value("signed", false);
    auto split = split_target(target);
    if (!split) return refusal("the user name must be ACCOUNT@HOST (for example root@web01)");
    auto parsed = parse_ssh_public_key(key);
    if (!parsed) return refusal("unsupported key");
    std::int64_t user_id = 0;
    std::string name;
    auto found = ctx_.store.read([&](storage::Store::Tx& tx) -> Result<void> {
      auto q = tx.prepare(
          "SELECT u.id, u.name FROM ssh_keys k JOIN users u ON u.id = k.user_id "
          "WHERE k.fingerprint = ? AND u.disabled = 0");
      if (!q) return tl::make_unexpected(q.error());
      q->bind(1, parsed->fingerprint);
      auto row = q->step();
      if (!row) return tl::make_unexpected(row.error());
      if (*row) {
        user_id = q->column_int(0);
        name = q->column_text(1);
      }
      return ok();
    });
    target_ = target;
    if (!found || user_id == 0) {
      if (failures_++ < 8) {  // one event per offered key, bounded
        (void)audit("unknown", "ssh.login",
                    {{"result", "failure"},
                     {"fingerprint", parsed->fingerprint},
                     {"reason", "key not registered"}});
      }
      return refusal("key not registered");
    }
    if (!is_signed) return {{"ok", true}};  // a probe: the key is acceptable, nothing proven yet
    user_id_ = user_id;
    user_ = name;
    account_ = split->first;
    host_ = split->second;
    stage_ = Stage::kAuthenticated;
    (void)audit(
        user_, "ssh.login",
        {{"result", "success"}, {"method", "publickey"}, {"fingerprint", parsed->fingerprint}});
    return {{"ok", true}, {"user", user_}};
  }

  json authorize() {
    const std::string hint =
        "no approved request for " + target_ + "; run: sekisho request " + target_ + " --reason …";
    auto grant = ctx_.requests.grant(user_id_, account_, host_, approval::Mode::kSession);
    if (!grant || !grant->has_value()) {
      stage_ = Stage::kEnded;
      (void)audit(user_, "ssh.refused",
                  {{"reason", grant ? "no approved request" : grant.error().message}});
      return refusal(grant || grant.error().code != ErrorCode::kNotFound ? hint
                                                                         : grant.error().message);
    }
    request_ = (*grant)->request_id;
    if (auto r = ctx_.requests.activate(request_, user_); !r) {
      stage_ = Stage::kEnded;
      (void)audit(user_, "ssh.refused", {{"reason", r.error().message}, {"request", request_}});
      return refusal(hint);
    }
    std::optional<storage::HostRecord> host;
    auto read = ctx_.store.read([&](storage::Store::Tx& tx) -> Result<void> {
      auto h = storage::find_host(tx, host_);
      if (!h) return tl::make_unexpected(h.error());
      host = std::move(*h);
      return ok();
    });
    if (!read || !host || host->protocol != "ssh" || host->host_key.empty()) {
      stage_ = Stage::kEnded;
      return refusal("host " + host_ + " has no pinned SSH host key");
    }
    pinned_ = host->host_key;
    stage_ = Stage::kAuthorized;
    (void)audit(user_, "ssh.grant_used", {{"request", request_}});
    return {{"ok", true},          {"request", request_},
            {"account", account_}, {"address", host->address},
            {"port", host->port},  {"host_key", key_blob(pinned_)}};
  }

  json refused(const json& body) {
    (void)audit(user_, "ssh.refused",
                {{"what", one_line(body, "what", 40)}, {"detail", one_line(body, "detail")}});
    return {{"ok", true}};
  }

  json credential(const json& body) {
    const std::string presented = one_line(body, "host_key", wire::kMaxMessage);
    if (key_blob(presented) != key_blob(pinned_)) {
      stage_ = Stage::kEnded;
      (void)audit(user_, "ssh.host_key_mismatch",
                  {{"pinned", fingerprint_of(pinned_)}, {"presented", fingerprint_of(presented)}});
      return refusal("the host key of " + host_ +
                     " does not match the key pinned at registration; refused");
    }
    Result<storage::VaultedCredential> cred = fail(ErrorCode::kInternal, "unread");
    auto read = ctx_.store.read([&](storage::Store::Tx& tx) -> Result<void> {
      cred = storage::current_credential(tx, account_, host_);
      return ok();
    });
    if (!read || !cred) {
      stage_ = Stage::kEnded;
      return refusal("no vaulted credential for " + target_);
    }
    stage_ = Stage::kConnected;
    return {{"ok", true}, {"kind", cred->kind}, {"secret", std::string(cred->secret.view())}};
  }

  json open_recording(const json& body, wire::Fd& to_pass) {
    const int cols = std::clamp(body.value("cols", 80), 1, 1000);
    const int rows = std::clamp(body.value("rows", 24), 1, 1000);
    auto opened = start_recording(static_cast<std::uint16_t>(cols),
                                  static_cast<std::uint16_t>(rows), to_pass);
    if (!opened) {
      stage_ = Stage::kEnded;
      module_logger("ssh")->error("session for {}: cannot open its recording: {}", user_,
                                  opened.error().message);
      return refusal("the gateway cannot record this session; refused");
    }
    stage_ = Stage::kRecording;
    return *opened;
  }

  Result<json> start_recording(std::uint16_t cols, std::uint16_t rows, wire::Fd& to_pass) {
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
    wire::Fd dir_fd(::open(ctx_.dir.recordings().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) return fail(ErrorCode::kIo, "cannot open the recordings directory");
    const std::string id = storage::new_session_id();
    auto data_key = recorder::new_data_key(*key, id);
    if (!data_key) return tl::make_unexpected(data_key.error());
    const TimePoint now = ctx_.clock.now();
    const std::string relative = "recordings/" + id + ".skr";
    storage::NewSession row{id, request_, target, format_time(now), relative};
    auto inserted = ctx_.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
      if (auto r = storage::insert_session(tx, row); !r) return r;
      auto seq = ctx_.audit.append(tx, {user_,
                                        "session.start",
                                        target_,
                                        {{"session", id},
                                         {"protocol", "ssh"},
                                         {"request", request_},
                                         {"recording", relative},
                                         {"peer", peer_}}});
      if (!seq) return tl::make_unexpected(seq.error());
      return ok();
    });
    if (!inserted) return tl::make_unexpected(inserted.error());
    session_ = id;
    to_pass = std::move(dir_fd);
    return json{{"ok", true},
                {"session", id},
                {"file", id + ".skr"},
                {"data_key", hex_encode(data_key->key.bytes())},
                {"wrapped_key", hex_encode(data_key->wrapped)},
                {"signer_pem", ctx_.signer.public_pem()},
                {"header",
                 {{"user", user_},
                  {"host", host_},
                  {"account", account_},
                  {"request", request_},
                  {"start_unix_us", unix_us(now)},
                  {"cols", cols},
                  {"rows", rows}}}};
  }

  json sign(const json& body) {
    auto message = hex_decode_secret(one_line(body, "message", wire::kMaxMessage));
    if (!message) return refusal("bad message to sign");
    auto signature = ctx_.signer.sign(message->bytes());
    if (!signature) return refusal("signing failed");
    stage_ = Stage::kSigned;  // once per session: a worker cannot collect signatures
    return {{"ok", true}, {"signature", hex_encode(*signature)}};
  }

  json session_end(const json& body) {
    const std::string hash = finish(one_line(body, "reason"));
    return {{"ok", true}, {"recording_hash", hash}};
  }

  // Ends the session row from what the file proves, not from what the worker claims: the final
  // hash and size come from verifying the recording with the gateway's public key.
  std::string finish(const std::string& reason) {
    stage_ = Stage::kEnded;
    storage::SessionEnd end;
    end.ended_at = format_time(ctx_.clock.now());
    end.end_reason = reason.empty() ? "closed" : reason;
    const auto path = ctx_.dir.recordings() / (session_ + ".skr");
    auto report = recorder::verify(path, ctx_.signer.public_pem());
    if (report && report->ok()) {
      end.recording_hash = report->final_hash;
      end.recording_size = report->size_bytes;
      end.duration_us = report->duration_us;
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

  const SshGatewayContext& ctx_;
  std::string peer_;
  Stage stage_ = Stage::kStart;
  int failures_ = 0;
  std::int64_t user_id_ = 0;
  std::string user_, account_, host_, target_, request_, pinned_, session_;
};

}  // namespace

void answer_worker(const SshGatewayContext& ctx, const std::string& peer, int sock,
                   const std::string& host_key) {
  Monitor monitor(ctx, peer);
  monitor.run(sock, host_key);
}

}  // namespace sekisho::broker
