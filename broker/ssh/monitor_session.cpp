// The session requests of the core's conversation with an SSH worker, from the grant to the
// target login: authorize (the approved request, the core's own TCP connection to the target),
// credential (the vaulted secret, once the target showed its pinned host key), and the reports
// of what the worker refused or transferred, each audited.
#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "base/logging.hpp"
#include "broker/sessions/target_connect.hpp"
#include "broker/ssh/monitor_state.hpp"
#include "ssh/keys.hpp"
#include "storage/credentials.hpp"
#include "storage/hosts.hpp"
#include "storage/vault.hpp"

namespace sekisho::broker::monitor_detail {

namespace {

// The core's TCP connect to a target (all its addresses together); the worker's key exchange
// with it then has libssh's own limit.
constexpr std::chrono::seconds kTargetConnectTimeout{30};

// How long a session waits for an account in doubt to be settled before it is refused; the
// settling itself is two logins to the host.
constexpr std::chrono::seconds kRotationSettleLimit{30};

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

}  // namespace

json Monitor::authorize(json& /*body*/, wire::Fd& to_pass) {
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
json Monitor::connect_target(const storage::HostRecord& host, const std::string& policy,
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
json Monitor::refused(json& body, wire::Fd& /*to_pass*/) {
  (void)audit(user_, "ssh.refused",
              {{"what", one_line(body, "what", 40)}, {"detail", one_line(body, "detail")}});
  return {{"ok", true}};
}

// The target the worker could not reach or log in to; also logged, since a vaulted credential
// the target refuses was changed outside the gateway.
json Monitor::target_failed(json& body, wire::Fd& /*to_pass*/) {
  const std::string detail = one_line(body, "detail");
  module_logger("ssh")->warn("session for {} to {}: {}", user_, target_, detail);
  (void)audit(user_, "ssh.target_failed", {{"detail", detail}});
  return {{"ok", true}};
}

// A file that crossed the session (docs/ssh_gateway.md "File transfers"). The worker's words
// are bounded and checked: a direction outside the two, a size that is no number or a hash
// that is not 64 hex digits is written as unknown rather than trusted.
json Monitor::file_transfer(json& body, wire::Fd& /*to_pass*/) {
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

Result<void> Monitor::await_rotation() {
  if (ctx_.rotation == nullptr) return ok();
  std::optional<std::int64_t> account_id;
  auto read = ctx_.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto row = storage::find_account_row(tx, host_, account_);
    if (!row) return tl::make_unexpected(row.error());
    if (row->has_value()) account_id = (*row)->id;
    return ok();
  });
  if (!read) return read;
  if (!account_id) return ok();  // the vault read below refuses it
  return ctx_.rotation->await_settled(*account_id, kRotationSettleLimit);
}

json Monitor::credential(json& body, wire::Fd& /*to_pass*/) {
  const std::string presented = one_line(body, "host_key", wire::kMaxMessage);
  if (key_blob(presented) != key_blob(pinned_)) {
    stage_ = Stage::kEnded;
    (void)audit(user_, "ssh.host_key_mismatch",
                {{"pinned", fingerprint_of(pinned_)}, {"presented", fingerprint_of(presented)}});
    return refusal("the host key of " + host_ +
                   " does not match the key pinned at registration; refused");
  }
  // An account in doubt (a rotation interrupted between the host and the vault) is settled
  // before its secret is used: the vault's current one may be the one the host no longer takes.
  if (auto settled = await_rotation(); !settled) {
    stage_ = Stage::kEnded;
    (void)audit(user_, "ssh.refused", {{"reason", settled.error().message}, {"request", request_}});
    return refusal(settled.error().message);
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

}  // namespace sekisho::broker::monitor_detail
