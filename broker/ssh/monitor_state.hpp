// The core's conversation with one SSH session worker, shared by the files that answer it:
// monitor.cpp (the dispatch table and the conversation loop), monitor_login.cpp (the login
// requests), monitor_session.cpp (the grant, the target connection, the credential and the
// worker's reports) and monitor_recording.cpp (the recording: open, sign, end, seal). Only those
// files include this header.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "broker/auth/auth_service.hpp"
#include "broker/sessions/session_window.hpp"
#include "broker/ssh/gateway.hpp"
#include "privsep/worker_protocol.hpp"
#include "storage/hosts.hpp"
#include "storage/sessions.hpp"

namespace sekisho::broker::monitor_detail {

using nlohmann::json;
using wire::Stage;

class Monitor;

// One request a worker may make: the stages where the core answers it and the handler that does
// (OpenSSH's mon_dispatch_proto20[]). The table (Monitor::kRequests, in monitor.cpp) is the whole
// whitelist: a type it does not name, a stage it does not list or a count above its limit ends
// the conversation as a protocol violation.
struct MonitorRequest {
  std::string_view type;
  std::uint32_t stages;  // stage_bit() of each stage where it is allowed
  // Times per connection; 0: no count, for reports of what the client did (a file, a refused
  // channel), which a long legitimate session repeats without end.
  int limit;
  json (Monitor::*handle)(json& body, wire::Fd& to_pass);
};

constexpr std::uint32_t stage_bit(Stage stage) { return 1U << static_cast<unsigned>(stage); }

constexpr std::uint32_t stages(std::initializer_list<Stage> list) {
  std::uint32_t bits = 0;
  for (Stage s : list) bits |= stage_bit(s);
  return bits;
}

// The table's entry for `type`, or null.
const MonitorRequest* find_request(std::string_view type);

// A short one-line text from the worker (a reason, a refused channel's detail); the worker is not
// trusted to keep its words short or printable. Empty when `name` is missing or not a string.
std::string one_line(const json& body, const char* name, std::size_t limit = 200);

inline json refusal(const std::string& message) { return {{"ok", false}, {"message", message}}; }

// Answers one worker. Lives on the worker's monitor thread; the stage only moves forward and
// every request outside the whitelist of the current stage ends the conversation.
class Monitor {
 public:
  Monitor(const SshGatewayContext& ctx, std::string peer, std::function<void()> on_authenticated,
          WorkerLink* link, std::function<void()> wait_for_exit);
  ~Monitor();

  // Sends the hello, then answers requests until the worker hangs up or breaks the whitelist.
  void run(int sock, const std::string& host_key);

  static const std::array<MonitorRequest, 11> kRequests;

 private:
  // The conversation (monitor.cpp).
  Result<void> send(int sock, const json& body, int pass_fd = -1);
  bool answer(int sock, wire::Message& msg);
  Result<void> audit(const std::string& actor, const std::string& action, json details);

  // Login (monitor_login.cpp).
  json auth_pubkey(json& body, wire::Fd& to_pass);
  json auth_password(json& body, wire::Fd& to_pass);
  json auth_totp(json& body, wire::Fd& to_pass);
  json unregistered_key(const std::string& fingerprint);
  json key_login_done(std::int64_t user_id, const std::string& name, const std::string& fingerprint,
                      bool with_totp);
  json enrolment_required(const std::string& user, const std::string& fingerprint);
  json login_failed(const std::string& user, const LoginRefusal& r,
                    const std::string& fingerprint = "");
  json password_login_done(const PasswordLogin& login, bool with_totp);
  void authenticated();
  std::string source() const;

  // The session up to its recording, and the worker's reports (monitor_session.cpp).
  json authorize(json& body, wire::Fd& to_pass);
  json connect_target(const storage::HostRecord& host, const std::string& policy,
                      wire::Fd& to_pass);
  json credential(json& body, wire::Fd& to_pass);
  // Waits (bounded) until the session's account is not in doubt; the rotation service's refusal
  // otherwise.
  Result<void> await_rotation();
  json refused(json& body, wire::Fd& to_pass);
  json target_failed(json& body, wire::Fd& to_pass);
  json file_transfer(json& body, wire::Fd& to_pass);

  // The recording (monitor_recording.cpp).
  json open_recording(json& body, wire::Fd& to_pass);
  json refuse_unrecordable(const Error& why);
  void alert_disk_full(const std::string& detail);
  Result<json> start_recording(std::uint16_t cols, std::uint16_t rows, wire::Fd& to_pass);
  Result<void> insert_session_row(const std::string& id, const storage::SessionTarget& target,
                                  TimePoint now);
  void publish_session(const std::string& id);
  Result<wire::Fd> create_recording_file(const std::string& id);
  json sign(json& body, wire::Fd& to_pass);
  json session_end(json& body, wire::Fd& to_pass);
  std::string finish(const std::string& reason);
  void seal_unended();
  void write_index_files();

  const SshGatewayContext& ctx_;
  std::string peer_;
  Stage stage_ = Stage::kStart;
  bool indexes_due_ = false;
  std::function<void()> on_authenticated_;
  WorkerLink* link_;
  std::function<void()> wait_for_exit_;  // reaps the worker (the gateway's); may be empty
  TimePoint window_end_{};               // of the grant: the core's own request data
  // At kSecondFactor: the user whose password or key was good, and that key's fingerprint
  // (empty after a password).
  std::optional<PasswordLogin> pending_;
  std::string pending_key_;
  int failures_ = 0;
  int password_tries_ = 0;
  // The worker allows 3 rounds like sshd; the core does not rely on it.
  static constexpr int kMaxPasswordTries = 6;
  std::int64_t user_id_ = 0;
  std::uint16_t target_source_port_ = 0;  // of the core's connection to the target
  std::string user_, account_, host_, target_, request_, pinned_, session_;
  std::map<std::string_view, int> counts_;  // requests answered per type, for their limits
};

}  // namespace sekisho::broker::monitor_detail
