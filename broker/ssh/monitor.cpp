#include "broker/ssh/monitor.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "base/files.hpp"
#include "base/logging.hpp"
#include "broker/sessions/recording_retention.hpp"
#include "broker/sessions/session_recording.hpp"
#include "broker/sessions/session_seal.hpp"
#include "broker/sessions/target_connect.hpp"
#include "privsep/worker_privileges.hpp"
#include "privsep/worker_protocol.hpp"
#include "recorder/recording.hpp"
#include "ssh/keys.hpp"
#include "ssh/login_name.hpp"
#include "storage/hosts.hpp"
#include "storage/sessions.hpp"
#include "storage/vault.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;
using wire::Stage;

// Nice value of a monitor thread while it builds a closed recording's index files.
constexpr int kIndexNice = 10;
// The core's TCP connect to a target (all its addresses together); the worker's key exchange
// with it then has libssh's own limit.
constexpr std::chrono::seconds kTargetConnectTimeout{30};

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
  auto parsed = ssh::parse_ssh_public_key(key_blob(line));
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

class Monitor;

// One request a worker may make: the stages where the core answers it and the handler that does
// (OpenSSH's mon_dispatch_proto20[]). The table (kRequests, after Monitor) is the whole
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

// Answers one worker. Lives on the worker's monitor thread; the stage only moves forward and
// every request outside the whitelist of the current stage ends the conversation.
class Monitor {
 public:
  Monitor(const SshGatewayContext& ctx, std::string peer, std::function<void()> on_authenticated,
          WorkerLink* link, std::function<void()> wait_for_exit)
      : ctx_(ctx),
        peer_(std::move(peer)),
        on_authenticated_(std::move(on_authenticated)),
        link_(link),
        wait_for_exit_(std::move(wait_for_exit)) {}
  ~Monitor() {
    if (stage_ == Stage::kRecording || stage_ == Stage::kSigned) seal_unended();
  }

  // Replies and pushes share the socket: one send at a time.
  Result<void> send(int sock, const json& body, int pass_fd = -1) {
    if (link_ == nullptr) return wire::send_message(sock, body, pass_fd);
    std::lock_guard lock(link_->send_mu);
    return wire::send_message(sock, body, pass_fd);
  }

  void run(int sock, const std::string& host_key) {
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

 private:
  // Answers one request through the table; false ends the conversation (a protocol violation,
  // audited, or a reply that could not be sent).
  bool answer(int sock, wire::Message& msg) {
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

  json auth_pubkey(json& body, wire::Fd& /*to_pass*/) {
    // Whole, not cut: ssh::parse_login_name refuses a name above ssh::kMaxLoginName.
    const std::string target = one_line(body, "target", wire::kMaxMessage);
    const std::string key = one_line(body, "key", wire::kMaxMessage);
    const bool is_signed = body.value("signed", false);
    auto login = ssh::parse_login_name(target);
    if (!login) return refusal(login.error().message);
    auto parsed = ssh::parse_ssh_public_key(key);
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
    target_ = login->target();
    // Leavers: a disabled or departed owner, or a directory that cannot answer, ends here.
    auto owner =
        ctx_.auth ? ctx_.auth->gateway_key(parsed->fingerprint) : LoginStep<PasswordLogin>{};
    if (!owner) {
      (void)audit(owner.error().user, "ssh.login",
                  {{"result", "failure"},
                   {"method", "publickey"},
                   {"reason", owner.error().reason},
                   {"fingerprint", parsed->fingerprint}});
      return refusal(owner.error().error.message);
    }
    if (found && user_id != 0 && login->gateway_user && *login->gateway_user != name) {
      user_id = 0;  // a hint names the user: another user's key does not log in as them
    }
    if (!found || user_id == 0) return unregistered_key(parsed->fingerprint);
    if (!is_signed) return {{"ok", true}};  // a probe: the key is acceptable, nothing proven yet
    account_ = login->account;
    host_ = login->host;
    if (owner->totp_enrollment_required) return enrolment_required(name, parsed->fingerprint);
    if (owner->totp_enrolled) {
      // publickey,keyboard-interactive: the key is proven, the login is not. Only auth_totp is
      // answered now, and only a good code reaches kAuthenticated.
      pending_ = std::move(*owner);
      pending_key_ = parsed->fingerprint;
      stage_ = Stage::kSecondFactor;
      return {{"ok", false}, {"totp", true}};
    }
    return key_login_done(user_id, name, parsed->fingerprint, false);
  }

  // A key no (enabled) user holds, or another user's key under a hint.
  json unregistered_key(const std::string& fingerprint) {
    // One event per offered key, at most 8 per connection and, across connections, at most
    // the limiter's count per source address a minute; the first one over it is summarised.
    if (failures_++ >= 8) return refusal("key not registered");
    const auto decision = ctx_.probe_audit == nullptr ? AuditRateLimit::Decision{}
                                                      : ctx_.probe_audit->admit(source());
    if (decision.verdict == AuditRateLimit::Verdict::kSuppress) {
      return refusal("key not registered");
    }
    if (decision.verdict == AuditRateLimit::Verdict::kSummarise) {
      (void)audit("unknown", "ssh.probes_suppressed",
                  {{"source", source()},
                   {"limit", ctx_.probe_audit->per_window()},
                   {"window_seconds", ctx_.probe_audit->window().count()}});
      return refusal("key not registered");
    }
    json details = {
        {"result", "failure"}, {"fingerprint", fingerprint}, {"reason", "key not registered"}};
    if (decision.suppressed_before > 0) details["suppressed_before"] = decision.suppressed_before;
    (void)audit("unknown", "ssh.login", std::move(details));
    return refusal("key not registered");
  }

  json key_login_done(std::int64_t user_id, const std::string& name, const std::string& fingerprint,
                      bool with_totp) {
    user_id_ = user_id;
    user_ = name;
    authenticated();
    (void)audit(user_, "ssh.login",
                {{"result", "success"},
                 {"method", "publickey"},
                 {"fingerprint", fingerprint},
                 {"totp", with_totp}});
    return {{"ok", true}, {"user", user_}};
  }

  // A role of `user` requires TOTP and none is enrolled: refused on SSH with the way to enrol, by
  // key as by password (final: the worker shows the message and ends the login).
  json enrolment_required(const std::string& user, const std::string& fingerprint) {
    (void)audit(user, "ssh.login",
                {{"result", "failure"},
                 {"method", "publickey"},
                 {"reason", "totp_enrollment_required"},
                 {"fingerprint", fingerprint},
                 {"source", source()}});
    return {{"ok", false}, {"message", enrol_first_message(user)}, {"final", true}};
  }

  static std::string enrol_first_message(const std::string& user) {
    return "your role requires TOTP: enrol first with: sekisho login --user " + user +
           "; sekisho totp enroll";
  }

  void authenticated() {
    stage_ = Stage::kAuthenticated;
    if (on_authenticated_) on_authenticated_();
  }

  // The client's address without its port: the throttle's per-source key, as the API's.
  std::string source() const {
    const auto colon = peer_.rfind(':');
    std::string host = colon == std::string::npos ? peer_ : peer_.substr(0, colon);
    if (host.starts_with("::ffff:")) host = host.substr(7);
    return host;
  }

  // keyboard-interactive, first step: the directory password of the named (or hinted) user.
  json auth_password(json& body, wire::Fd& /*to_pass*/) {
    auto password = wire::take_secret(body, "password");
    if (++password_tries_ > kMaxPasswordTries) {
      return {{"ok", false}, {"message", "too many login attempts"}, {"final", true}};
    }
    auto login = ssh::parse_login_name(one_line(body, "target", wire::kMaxMessage));
    if (!login) return {{"ok", false}, {"message", login.error().message}, {"final", true}};
    target_ = login->target();
    const std::string user =
        login->gateway_user ? *login->gateway_user : one_line(body, "user", wire::kMaxMessage);
    if (user.size() > ssh::kMaxLoginName) {  // refused, never cut: a cut name is another user's
      return {{"ok", false},
              {"message", "the user name is longer than " + std::to_string(ssh::kMaxLoginName) +
                              " characters; refused"},
              {"final", true}};
    }
    if (!password || ctx_.auth == nullptr) {
      return {{"ok", false}, {"message", "password login is not available"}, {"final", true}};
    }
    auto step = ctx_.auth->gateway_password(user, *password, source());
    if (!step) return login_failed(user, step.error());
    account_ = login->account;
    host_ = login->host;
    if (step->totp_enrolled) {
      pending_ = std::move(*step);
      stage_ = Stage::kSecondFactor;
      return {{"ok", false}, {"totp", true}};
    }
    return password_login_done(*step, false);
  }

  // keyboard-interactive, second step: one TOTP code right after a good password or a signed key
  // of a TOTP-enrolled user. After a password, whatever the outcome, the next try starts again
  // from the password. After a key, a wrong or used code leaves the key proven (the client types
  // the code again in its next round, as OpenSSH keeps a partial success); the throttle and this
  // request's count in the table bound the tries.
  json auth_totp(json& body, wire::Fd& /*to_pass*/) {
    auto code = wire::take_secret(body, "code");
    stage_ = Stage::kStart;
    PasswordLogin login = std::move(*pending_);
    pending_.reset();
    std::string key = std::exchange(pending_key_, std::string());
    const std::string text = code ? std::string(code->view()) : std::string();
    auto step = ctx_.auth->gateway_totp(login, text, source());
    if (!step) {
      if (!key.empty() && step.error().error.code == ErrorCode::kUnauthenticated) {
        pending_ = login;
        pending_key_ = key;
        stage_ = Stage::kSecondFactor;
      }
      return login_failed(login.login, step.error(), key);
    }
    if (!key.empty()) return key_login_done(login.user_id, login.user, key, true);
    return password_login_done(login, true);
  }

  // `fingerprint`: the key proven before the code, if any.
  json login_failed(const std::string& user, const LoginRefusal& r,
                    const std::string& fingerprint = "") {
    json details = {{"result", "failure"},
                    {"method", "keyboard-interactive"},
                    {"reason", r.reason},
                    {"source", source()}};
    if (!fingerprint.empty()) details["fingerprint"] = fingerprint;
    (void)audit(r.reason == "bad_user_name" ? "unknown" : user, "ssh.login", std::move(details));
    // A wrong password or code may be typed again (within the worker's rounds); anything else
    // (throttled, disabled, directory down) ends password login on this connection.
    const bool final = r.error.code != ErrorCode::kUnauthenticated;
    return {{"ok", false}, {"message", r.error.message}, {"final", final}};
  }

  json password_login_done(const PasswordLogin& login, bool with_totp) {
    const char* reason = login.must_change_password       ? "password_change_required"
                         : login.totp_enrollment_required ? "totp_enrollment_required"
                                                          : nullptr;
    if (reason != nullptr) {
      (void)audit(login.user, "ssh.login",
                  {{"result", "failure"},
                   {"method", "keyboard-interactive"},
                   {"reason", reason},
                   {"source", source()}});
      const std::string message =
          login.must_change_password
              ? "this is a one-time password: set a new one first with: sekisho login --user " +
                    login.user
              : enrol_first_message(login.user);
      return {{"ok", false}, {"message", message}, {"final", true}};
    }
    user_id_ = login.user_id;
    user_ = login.user;
    authenticated();
    (void)audit(user_, "ssh.login",
                {{"result", "success"}, {"method", "keyboard-interactive"}, {"totp", with_totp}});
    return {{"ok", true}, {"user", user_}};
  }

  json authorize(json& /*body*/, wire::Fd& to_pass) {
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
    window_end_ = (*grant)->end;
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
    return connect_target(*host, (*grant)->policy, to_pass);
  }

  // The core opens the target connection and passes the socket with the reply: the worker needs
  // no connect() (its sandbox refuses it), and the source port the target logs is audited for
  // reconciliation with the host's own log. An unreachable target gets the refusal (and audit)
  // the worker gave before the core connected for it.
  json connect_target(const storage::HostRecord& host, const std::string& policy,
                      wire::Fd& to_pass) {
    auto conn = connect_target_tcp(host.address, static_cast<std::uint16_t>(host.port),
                                   kTargetConnectTimeout);
    if (!conn) {
      stage_ = Stage::kEnded;
      const std::string detail = "connect to " + host.address + ":" + std::to_string(host.port) +
                                 ": " + conn.error().message;
      (void)audit(user_, "ssh.grant_used", {{"request", request_}});
      module_logger("ssh")->warn("session for {} to {}: {}", user_, target_, detail);
      (void)audit(user_, "ssh.target_failed", {{"detail", detail}});
      // The user's words as when the worker connected: the reason, not the address.
      return refusal("cannot reach the target host: " + conn.error().message);
    }
    target_source_port_ = conn->local_port;
    to_pass = std::move(conn->fd);
    stage_ = Stage::kAuthorized;
    // Transfers follow the rule the request was admitted under; a rule since removed from the
    // configuration allows none (the session itself was approved and goes on).
    const approval::Rule* rule = nullptr;
    for (const auto& r : ctx_.requests.policy().rules) {
      if (r.name == policy) rule = &r;
    }
    (void)audit(user_, "ssh.grant_used",
                {{"request", request_},
                 {"target_address", conn->peer},
                 {"target_source_port", target_source_port_}});
    return {{"ok", true},
            {"request", request_},
            {"account", account_},
            {"address", host.address},
            {"port", host.port},
            {"host_key", key_blob(pinned_)},
            {"allow_upload", rule != nullptr && rule->allow_upload},
            {"allow_download", rule != nullptr && rule->allow_download}};
  }

  // A forwarding, transfer or channel the worker turned down.
  json refused(json& body, wire::Fd& /*to_pass*/) {
    (void)audit(user_, "ssh.refused",
                {{"what", one_line(body, "what", 40)}, {"detail", one_line(body, "detail")}});
    return {{"ok", true}};
  }

  // The target the worker could not reach or log in to; also logged, since a vaulted credential
  // the target refuses was changed outside the gateway.
  json target_failed(json& body, wire::Fd& /*to_pass*/) {
    const std::string detail = one_line(body, "detail");
    module_logger("ssh")->warn("session for {} to {}: {}", user_, target_, detail);
    (void)audit(user_, "ssh.target_failed", {{"detail", detail}});
    return {{"ok", true}};
  }

  // A file that crossed the session (docs/ssh_gateway.md "File transfers"). The worker's words
  // are bounded and checked: a direction outside the two, a size that is no number or a hash
  // that is not 64 hex digits is written as unknown rather than trusted.
  json file_transfer(json& body, wire::Fd& /*to_pass*/) {
    // An SFTP request that changed the target (remove, rename, ...): session.file_change. The
    // worker's words are bounded, and the operation and result taken from fixed lists.
    if (body.contains("operation")) {
      static constexpr std::string_view kOperations[] = {"remove",   "rename", "setstat", "symlink",
                                                         "hardlink", "mkdir",  "rmdir",   "copy"};
      const std::string op = one_line(body, "operation", 10);
      const std::string result = one_line(body, "result", 10);
      const bool known =
          std::find(std::begin(kOperations), std::end(kOperations), op) != std::end(kOperations);
      json details = {
          {"operation", known ? op : "unknown"},
          {"path", one_line(body, "path", 4096)},
          {"result",
           result == "ok" || result == "failed" || result == "no reply" ? result : "unknown"},
          {"protocol", one_line(body, "protocol", 10)}};
      if (const std::string to = one_line(body, "new_path", 4096); !to.empty()) {
        details["new_path"] = to;
      }
      (void)audit(user_, "session.file_change", std::move(details));
      return {{"ok", true}};
    }
    const std::string direction = one_line(body, "direction", 10);
    std::string sha = one_line(body, "sha256", 64);
    if (sha.size() != 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos) {
      sha.clear();
    }
    const auto size = body.find("size");
    json details = {
        {"path", one_line(body, "path", 4096)},
        {"direction", direction == "upload" || direction == "download" ? direction : "unknown"},
        {"size", size != body.end() && size->is_number_unsigned() ? size->get<std::uint64_t>()
                                                                  : std::uint64_t{0}},
        {"sha256", sha.empty() ? json(nullptr) : json(sha)},
        {"protocol", one_line(body, "protocol", 10)}};
    if (const std::string note = one_line(body, "note", 300); !note.empty()) {
      details["note"] = note;
    }
    (void)audit(user_, "session.file_transfer", std::move(details));
    return {{"ok", true}};
  }

  json credential(json& body, wire::Fd& /*to_pass*/) {
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
    // The secret is written straight into the reply, which answer() wipes after sending: no
    // temporary string copy is left unwiped.
    json reply = {{"ok", true}, {"kind", cred->kind}, {"secret", std::string()}};
    reply["secret"].get_ref<std::string&>().assign(cred->secret.view());
    return reply;
  }

  json open_recording(json& body, wire::Fd& to_pass) {
    if (auto room = check_recording_room(ctx_.recordings, ctx_.dir); !room) {
      return refuse_unrecordable(room.error());
    }
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

  // No room for one more recording: the session is refused, since it would otherwise run
  // unrecorded. Audited and logged at error (the operator's alert): users are turned away.
  json refuse_unrecordable(const Error& why) {
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
  void alert_disk_full(const std::string& detail) {
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
                                         {"peer", peer_},
                                         {"target_source_port", target_source_port_}}});
      if (!seq) return tl::make_unexpected(seq.error());
      return ok();
    });
    if (!inserted) return tl::make_unexpected(inserted.error());
    session_ = id;
    if (link_ != nullptr) {
      std::lock_guard lock(link_->mu);
      link_->session_id = id;
      link_->request_id = request_;
      link_->user = user_;
      link_->target = target_;
      link_->window_end = window_end_;
    }
    // The core creates the file and passes only its descriptor: the worker never holds a handle
    // of the recordings directory (docs/ssh_gateway.md "Worker privileges").
    const auto file = ctx_.dir.recordings() / (id + ".skr");
    wire::Fd file_fd(
        ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!file_fd) {
      return fail(ErrorCode::kIo, "cannot create " + file.string() + ": " + errno_text(errno));
    }
    if (auto r = fsync_directory(ctx_.dir.recordings()); !r) return tl::make_unexpected(r.error());
    to_pass = std::move(file_fd);
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

  // Signs the session's closing record, and nothing else: the key also signs the audit
  // checkpoints, so the core signs only the chain end of the recording file it created, checked
  // by reading that file here (the message's label also keeps it apart from a checkpoint's).
  json sign(json& body, wire::Fd& /*to_pass*/) {
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

  json session_end(json& body, wire::Fd& /*to_pass*/) {
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
  void seal_unended() {
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
  void write_index_files() {
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

 public:
  static const std::array<MonitorRequest, 11> kRequests;
};

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

}  // namespace

void answer_worker(const SshGatewayContext& ctx, const std::string& peer, int sock,
                   const std::string& host_key, std::function<void()> on_authenticated,
                   WorkerLink* link, std::function<void()> wait_for_exit) {
  Monitor monitor(ctx, peer, std::move(on_authenticated), link, std::move(wait_for_exit));
  monitor.run(sock, host_key);
}

bool monitor_allows(wire::Stage stage, std::string_view type) {
  const MonitorRequest* r = find_request(type);
  return r != nullptr && (r->stages & stage_bit(stage)) != 0;
}

std::vector<std::string_view> monitor_request_types() {
  std::vector<std::string_view> out;
  for (const MonitorRequest& r : Monitor::kRequests) out.push_back(r.type);
  return out;
}

}  // namespace sekisho::broker
