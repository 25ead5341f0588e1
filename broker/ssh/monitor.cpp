#include "broker/ssh/monitor.hpp"

#include <utility>

#include "base/logging.hpp"
#include "broker/ssh/monitor_state.hpp"
#include "privsep/worker_privileges.hpp"
#include "privsep/worker_protocol.hpp"

namespace sekisho::broker {

namespace monitor_detail {

std::string one_line(const json& body, const char* name, std::size_t limit) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) return "";
  std::string s = it->get<std::string>().substr(0, limit);
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
}

// The whitelist. "refused" reports (a forwarding the worker turned down) are audited at any
// stage after authentication; "target_failed" only while the worker reaches and logs in to the
// target; everything else moves the stage forward, so that no step can be taken twice (no key
// login after a login, no second credential, no second signature).
using M = Monitor;
const std::array<MonitorRequest, 11> Monitor::kRequests{{
    {"auth_pubkey", stages({Stage::kStart}), 64, &M::auth_pubkey},
    {"auth_password", stages({Stage::kStart}), 16, &M::auth_password},
    {"auth_totp", stages({Stage::kSecondFactor}), 16, &M::auth_totp},
    {"authorize", stages({Stage::kAuthenticated}), 1, &M::authorize},
    {"credential", stages({Stage::kAuthorized}), 1, &M::credential},
    {"target_failed", stages({Stage::kAuthorized, Stage::kConnected}), 4, &M::target_failed},
    {"open_recording", stages({Stage::kConnected}), 1, &M::open_recording},
    {"file_transfer", stages({Stage::kRecording}), 0, &M::file_transfer},
    // A refused message does not use up the signature: a few tries, each reading the file.
    {"sign", stages({Stage::kRecording}), 3, &M::sign},
    {"session_end", stages({Stage::kRecording, Stage::kSigned}), 1, &M::session_end},
    {"refused",
     stages({Stage::kAuthenticated, Stage::kAuthorized, Stage::kConnected, Stage::kRecording,
             Stage::kSigned}),
     0, &M::refused},
}};

const MonitorRequest* find_request(std::string_view type) {
  for (const MonitorRequest& r : Monitor::kRequests) {
    if (r.type == type) return &r;
  }
  return nullptr;
}

Monitor::Monitor(const SshGatewayContext& ctx, std::string peer,
                 std::function<void()> on_authenticated, WorkerLink* link,
                 std::function<void()> wait_for_exit)
    : ctx_(ctx),
      peer_(std::move(peer)),
      on_authenticated_(std::move(on_authenticated)),
      link_(link),
      wait_for_exit_(std::move(wait_for_exit)) {}

Monitor::~Monitor() {
  if (stage_ == Stage::kRecording || stage_ == Stage::kSigned) seal_unended();
}

// Replies and pushes share the socket: one send at a time.
Result<void> Monitor::send(int sock, const json& body, int pass_fd) {
  if (link_ == nullptr) return wire::send_message(sock, body, pass_fd);
  std::lock_guard lock(link_->send_mu);
  return wire::send_message(sock, body, pass_fd);
}

void Monitor::run(int sock, const std::string& host_key) {
  auto log = module_logger("ssh");
  const json hello = {{"type", "hello"},
                      {"job", "session"},
                      {"host_key", host_key},
                      {"change_user", privsep::privileges_to_hello(ctx_.privileges)}};
  if (auto r = send(sock, hello); !r) {
    log->error("worker for {}: {}", peer_, r.error().message);
    return;
  }
  // No count on the conversation as a whole: a long session repeats reports without end. Each
  // request type has its own bound in the table instead.
  for (;;) {
    auto msg = wire::receive_message(sock);
    if (!msg) {
      if (msg.error().code != ErrorCode::kNotFound) {
        log->warn("worker for {}: {}", peer_, msg.error().message);
      }
      return;
    }
    if (!answer(sock, *msg)) return;
  }
}

// Answers one request through the table; false ends the conversation (a protocol violation,
// audited, or a reply that could not be sent).
bool Monitor::answer(int sock, wire::Message& msg) {
  const std::string type = one_line(msg.body, "type", 40);
  const MonitorRequest* request = find_request(msg.body["type"].get<std::string>());
  std::string why;
  if (request == nullptr) {
    why = "unknown request";
  } else if ((request->stages & stage_bit(stage_)) == 0) {
    why = "not allowed at this stage";
  } else if (request->limit > 0 && ++counts_[request->type] > request->limit) {
    why = "more than " + std::to_string(request->limit) + " on one connection";
  }
  if (!why.empty()) {
    module_logger("ssh")->warn("worker for {} asked '{}' at stage {}: {}; refused", peer_, type,
                               wire::stage_name(stage_), why);
    (void)audit(user_.empty() ? "unknown" : user_, "ssh.protocol_violation",
                {{"request", type}, {"stage", wire::stage_name(stage_)}, {"reason", why}});
    return false;
  }
  wire::Fd to_pass;
  json reply = (this->*(request->handle))(msg.body, to_pass);
  reply["type"] = "reply";
  const bool sent = send(sock, reply, to_pass ? to_pass.get() : -1).has_value();
  // A reply may hold the target credential or the recording's data key: wipe them here too,
  // not only the serialised copy.
  for (const char* field : {"secret", "data_key"}) {
    (void)wire::take_secret(reply, field);  // the Secret is wiped as it goes out of scope
  }
  if (indexes_due_) write_index_files();  // after the reply: the user is not kept waiting
  return sent;
}

Result<void> Monitor::audit(const std::string& actor, const std::string& action, json details) {
  details["peer"] = peer_;
  if (!session_.empty()) details["session"] = session_;
  auto r = ctx_.audit.append({actor, action, target_, std::move(details)});
  if (!r) {
    module_logger("ssh")->error("audit {} failed: {}", action, r.error().message);
    return tl::make_unexpected(r.error());
  }
  return ok();
}

}  // namespace monitor_detail

void answer_worker(const SshGatewayContext& ctx, const std::string& peer, int sock,
                   const std::string& host_key, std::function<void()> on_authenticated,
                   WorkerLink* link, std::function<void()> wait_for_exit) {
  monitor_detail::Monitor monitor(ctx, peer, std::move(on_authenticated), link,
                                  std::move(wait_for_exit));
  monitor.run(sock, host_key);
}

bool monitor_allows(wire::Stage stage, std::string_view type) {
  const monitor_detail::MonitorRequest* r = monitor_detail::find_request(type);
  return r != nullptr && (r->stages & monitor_detail::stage_bit(stage)) != 0;
}

std::vector<std::string_view> monitor_request_types() {
  std::vector<std::string_view> out;
  for (const monitor_detail::MonitorRequest& r : monitor_detail::Monitor::kRequests) {
    out.push_back(r.type);
  }
  return out;
}

}  // namespace sekisho::broker
