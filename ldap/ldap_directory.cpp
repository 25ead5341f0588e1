#include "ldap/ldap_directory.hpp"

#include <ldap.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "base/c_handle.hpp"
#include "base/files.hpp"
#include "base/logging.hpp"
#include "ldap/ldap_filter.hpp"

namespace sekisho::ldap {

namespace {

constexpr char kWrongCredentials[] = "wrong user name or password";
constexpr std::size_t kMaxNameBytes = 256;
constexpr std::size_t kMaxPasswordBytes = 1024;
constexpr std::size_t kMaxPasswordFileBytes = 4096;
constexpr int kAdAccountDisable = 0x2;  // userAccountControl ACCOUNTDISABLE

void unbind(LDAP* ld) { ldap_unbind_ext_s(ld, nullptr, nullptr); }
void free_values(berval** values) { ldap_value_free_len(values); }

using LdapHandle = CHandle<LDAP, unbind>;
using MessageHandle = CHandle<LDAPMessage, ldap_msgfree>;
using ValuesHandle = CHandle<berval*, free_values>;
using LdapString = CHandle<char, ldap_memfree>;

std::shared_ptr<spdlog::logger> logger() { return module_logger("ldap"); }

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Server and library diagnostics, flattened to a short single line.
std::string one_line(std::string_view text) {
  std::string out;
  for (const char ch : text.substr(0, 200)) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(c < 0x20 || c == 0x7f ? ' ' : ch);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string diagnostic(LDAP* ld) {
  char* raw = nullptr;
  if (ld == nullptr || ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &raw) != LDAP_OPT_SUCCESS) {
    return {};
  }
  LdapString msg(raw);
  if (!msg) return {};
  std::string text = one_line(msg.get());
  // libldap's placeholder when it knows nothing more says nothing.
  return text == "(unknown error code)" || text == "unknown error" ? std::string() : text;
}

// Every failure of the directory itself (down, TLS refused, time-out, misconfigured base) is
// kUnavailable: the caller can do nothing but retry later or fix the configuration.
Error directory_error(const LdapConfig& config, LDAP* ld, int rc, std::string_view doing) {
  std::string message = "directory " + config.url + " ";
  switch (rc) {
    case LDAP_SERVER_DOWN:
    case LDAP_CONNECT_ERROR:
    case LDAP_TIMEOUT:
    case LDAP_UNAVAILABLE:
    case LDAP_BUSY:
      message += "unavailable: ";
      if (doing == "StartTLS") message += "StartTLS: ";
      break;
    default:
      message += std::string(doing) + " failed: ";
  }
  message += ldap_err2string(rc);
  if (const std::string diag = diagnostic(ld); !diag.empty()) message += " (" + diag + ")";
  return Error{ErrorCode::kUnavailable, message};
}

// Trust exactly `ca_file` (not ldap.conf's TLS_CACERTDIR), require a verified certificate and
// TLS 1.2+. Per-connection TLS settings only take effect through a new context, created last.
bool set_tls_options(LDAP* ld, const std::filesystem::path& ca_file) {
  const int require_cert = LDAP_OPT_X_TLS_HARD;
  const int min_tls = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
  const int client_side = 0;
  static const char kNoDir[] = "";
  return ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require_cert) == LDAP_OPT_SUCCESS &&
         ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca_file.c_str()) == LDAP_OPT_SUCCESS &&
         ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTDIR, kNoDir) == LDAP_OPT_SUCCESS &&
         ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min_tls) == LDAP_OPT_SUCCESS &&
         ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &client_side) == LDAP_OPT_SUCCESS;
}

struct Entry {
  std::string dn;
  std::map<std::string, std::vector<std::string>> values;  // lower-case attribute name

  const std::vector<std::string>* get(const std::string& attr) const {
    auto it = values.find(lower(attr));
    return it == values.end() || it->second.empty() ? nullptr : &it->second;
  }
  std::string first(const std::string& attr) const {
    const auto* v = get(attr);
    return v ? v->front() : std::string();
  }
};

// libldap 2.5 bounds connect() by LDAP_OPT_NETWORK_TIMEOUT and waits for results by
// LDAP_OPT_TIMEOUT, but its TLS handshake (LDAPS, or after StartTLS) has no time-out: a server that
// accepts TCP and then stays silent hangs the caller for ever (measured with 2.5.13). The connect
// callback records the socket; a HandshakeWatchdog shuts it down if the handshake outlives the
// time-out, which makes the handshake fail at once.
struct ConnectHook {
  ldap_conncb callback{};
  std::mutex mutex;
  int fd = -1;  // the connection's socket while libldap holds it open
};

int on_connect(LDAP* /*ld*/, Sockbuf* sb, LDAPURLDesc* /*srv*/, sockaddr* /*addr*/,
               ldap_conncb* ctx) noexcept {
  ber_socket_t fd = -1;
  if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd) != 1) return 0;
  auto* hook = static_cast<ConnectHook*>(ctx->lc_arg);
  std::lock_guard lock(hook->mutex);
  hook->fd = fd;
  return 0;
}

void on_disconnect(LDAP* /*ld*/, Sockbuf* /*sb*/, ldap_conncb* ctx) noexcept {
  auto* hook = static_cast<ConnectHook*>(ctx->lc_arg);
  std::lock_guard lock(hook->mutex);
  hook->fd = -1;
}

// While alive, a thread that shuts the hooked socket down once `limit` has passed.
class HandshakeWatchdog {
 public:
  HandshakeWatchdog(ConnectHook& hook, std::chrono::seconds limit)
      : thread_([this, &hook, limit] {
          std::unique_lock lock(mutex_);
          if (done_cv_.wait_for(lock, limit, [this] { return done_; })) return;
          std::lock_guard fd_lock(hook.mutex);
          // Only the reading side: a later write (TLS alert, unbind) must not raise SIGPIPE.
          if (hook.fd >= 0) shutdown(hook.fd, SHUT_RD);
        }) {}
  HandshakeWatchdog(const HandshakeWatchdog&) = delete;
  HandshakeWatchdog& operator=(const HandshakeWatchdog&) = delete;
  ~HandshakeWatchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

// One connection, opened per call and closed with it. Not shared between threads.
class Connection {
 public:
  // Initialises the handle with this deployment's options; the network is touched by the
  // first operation (or StartTLS).
  static Result<Connection> open(const LdapConfig& config) {
    // Declared before the handle, so that it outlives it: unbinding calls on_disconnect.
    auto hook = std::make_unique<ConnectHook>();
    hook->callback.lc_add = on_connect;
    hook->callback.lc_del = on_disconnect;
    hook->callback.lc_arg = hook.get();
    LDAP* raw = nullptr;
    int rc = ldap_initialize(&raw, config.url.c_str());
    LdapHandle ld(raw);
    if (rc != LDAP_SUCCESS || !ld) {
      return fail(ErrorCode::kInvalidArgument,
                  "directory url " + config.url + " is invalid: " + ldap_err2string(rc));
    }
    const int version = LDAP_VERSION3;
    timeval tv{static_cast<time_t>(config.timeout.count()), 0};
    const bool tls = starts_with_nocase(config.url, "ldaps://") || config.start_tls;
    bool set = ldap_set_option(ld.get(), LDAP_OPT_PROTOCOL_VERSION, &version) == LDAP_OPT_SUCCESS &&
               ldap_set_option(ld.get(), LDAP_OPT_REFERRALS, LDAP_OPT_OFF) == LDAP_OPT_SUCCESS &&
               ldap_set_option(ld.get(), LDAP_OPT_NETWORK_TIMEOUT, &tv) == LDAP_OPT_SUCCESS &&
               ldap_set_option(ld.get(), LDAP_OPT_TIMEOUT, &tv) == LDAP_OPT_SUCCESS;
    set =
        set && ldap_set_option(ld.get(), LDAP_OPT_CONNECT_CB, &hook->callback) == LDAP_OPT_SUCCESS;
    if (set && tls) set = set_tls_options(ld.get(), config.ca_file);
    if (!set) {
      return fail(ErrorCode::kInternal, "directory " + config.url + ": cannot set LDAP options");
    }
    {
      // Connect (and for LDAPS shake hands) now, under the watchdog, not in the first operation.
      HandshakeWatchdog watchdog(*hook, config.timeout);
      rc = ldap_connect(ld.get());
      int detail = LDAP_SUCCESS;
      if (rc != LDAP_SUCCESS &&
          ldap_get_option(ld.get(), LDAP_OPT_RESULT_CODE, &detail) == LDAP_OPT_SUCCESS &&
          detail != LDAP_SUCCESS) {
        rc = detail;
      }
      if (rc == LDAP_SUCCESS && config.start_tls) {
        rc = ldap_start_tls_s(ld.get(), nullptr, nullptr);
        if (rc != LDAP_SUCCESS) {
          return tl::make_unexpected(directory_error(config, ld.get(), rc, "StartTLS"));
        }
      }
    }
    if (rc != LDAP_SUCCESS) {
      return tl::make_unexpected(directory_error(config, ld.get(), rc, "connect"));
    }
    return Connection(config, std::move(hook), std::move(ld));
  }

  // Simple bind. The password is never empty here (an empty simple bind is anonymous).
  [[nodiscard]] int bind(const std::string& dn, const Secret& password) {
    berval cred{static_cast<ber_len_t>(password.size()), const_cast<char*>(password.view().data())};
    return ldap_sasl_bind_s(ld_.get(), dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr,
                            nullptr);
  }

  // Searches and returns every entry with the requested attributes (`attrs` empty: none).
  // kNotFound when the base does not exist; LDAP_SIZELIMIT_EXCEEDED is reported through
  // `truncated` with the entries received.
  Result<std::vector<Entry>> search(const std::string& base, int scope, const std::string& filter,
                                    const std::vector<std::string>& attrs, int size_limit = 0,
                                    bool* truncated = nullptr) {
    std::vector<char*> attr_ptrs;
    static char kNoAttrs[] = "1.1";
    if (attrs.empty()) attr_ptrs.push_back(kNoAttrs);
    for (const auto& a : attrs) attr_ptrs.push_back(const_cast<char*>(a.c_str()));
    attr_ptrs.push_back(nullptr);
    timeval tv{static_cast<time_t>(config_.timeout.count()), 0};
    LDAPMessage* raw = nullptr;
    const int rc = ldap_search_ext_s(ld_.get(), base.c_str(), scope, filter.c_str(),
                                     attr_ptrs.data(), 0, nullptr, nullptr, &tv, size_limit, &raw);
    MessageHandle res(raw);
    if (rc == LDAP_NO_SUCH_OBJECT) return fail(ErrorCode::kNotFound, "no entry " + base);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
      return tl::make_unexpected(directory_error(config_, ld_.get(), rc, "search"));
    }
    if (truncated != nullptr) *truncated = rc == LDAP_SIZELIMIT_EXCEEDED;
    std::vector<Entry> entries;
    for (LDAPMessage* m = ldap_first_entry(ld_.get(), res.get()); m != nullptr;
         m = ldap_next_entry(ld_.get(), m)) {
      Entry e;
      LdapString dn(ldap_get_dn(ld_.get(), m));
      if (dn) e.dn = dn.get();
      for (const auto& a : attrs) {
        ValuesHandle vals(ldap_get_values_len(ld_.get(), m, a.c_str()));
        if (!vals) continue;
        auto& out = e.values[lower(a)];
        for (berval** v = vals.get(); *v != nullptr; ++v)
          out.emplace_back((*v)->bv_val, (*v)->bv_len);
      }
      entries.push_back(std::move(e));
    }
    return entries;
  }

  LDAP* get() const { return ld_.get(); }

 private:
  Connection(const LdapConfig& config, std::unique_ptr<ConnectHook> hook, LdapHandle ld)
      : config_(config), hook_(std::move(hook)), ld_(std::move(ld)) {}
  const LdapConfig& config_;
  std::unique_ptr<ConnectHook> hook_;  // referenced by ld_: declared first, destroyed last
  LdapHandle ld_;
};

Result<Connection> service_connection(const LdapConfig& config, const Secret& bind_password) {
  auto conn = Connection::open(config);
  if (!conn) {
    logger()->warn("{}", conn.error().message);
    return tl::make_unexpected(conn.error());
  }
  const int rc = conn->bind(config.bind_dn, bind_password);
  if (rc != LDAP_SUCCESS) {
    Error e = directory_error(config, conn->get(), rc, "bind as " + config.bind_dn);
    logger()->warn("{}", e.message);
    return tl::make_unexpected(e);
  }
  return conn;
}

// The one entry for `user`, or kNotFound (none, or more than one: never guess between people).
Result<Entry> find_user(const LdapConfig& config, Connection& conn, const std::string& user) {
  std::string filter;
  if (config.active_directory && user.find('@') != std::string::npos) {
    filter = "(&(objectClass=user)(userPrincipalName=" + escape_filter_value(user) + "))";
  } else {
    filter = build_user_filter(config.user_filter, user);
  }
  const std::vector<std::string> attrs = {config.login_attribute, "memberOf", "userAccountControl",
                                          "pwdAccountLockedTime"};
  bool truncated = false;
  auto found = conn.search(config.user_base, LDAP_SCOPE_SUBTREE, filter, attrs, 2, &truncated);
  if (!found) return tl::make_unexpected(found.error());
  if (found->size() != 1 || truncated) {
    if (found->size() > 1) logger()->warn("login name {} matches several entries", user);
    return fail(ErrorCode::kNotFound, "no user " + user);
  }
  return std::move(found->front());
}

// A DN in one canonical spelling (RFC 4514, lower case) so that group DNs compare reliably.
std::string canonical_dn(const std::string& dn) {
  char* raw = nullptr;
  if (ldap_dn_normalize(dn.c_str(), LDAP_DN_FORMAT_LDAP, &raw, LDAP_DN_FORMAT_LDAPV3) !=
      LDAP_SUCCESS) {
    return lower(dn);
  }
  LdapString norm(raw);
  return lower(norm ? std::string(norm.get()) : dn);
}

Result<std::vector<std::string>> groups_of(const LdapConfig& config, Connection& conn,
                                           const Entry& entry) {
  if (const auto* member_of = entry.get("memberOf")) return *member_of;
  std::vector<std::string> groups;
  if (config.group_base.empty()) return groups;
  const std::string dn = escape_filter_value(entry.dn);
  const std::string filter = "(|(member=" + dn + ")(uniqueMember=" + dn + "))";
  auto found = conn.search(config.group_base, LDAP_SCOPE_SUBTREE, filter, {});
  if (!found) return tl::make_unexpected(found.error());
  for (auto& g : *found) groups.push_back(std::move(g.dn));
  return groups;
}

Result<StaffStatus> status_of(const LdapConfig& config, Connection& conn, const Entry& entry) {
  if (config.active_directory || entry.get("userAccountControl") != nullptr) {
    const std::string uac = entry.first("userAccountControl");
    const long flags = uac.empty() ? 0 : std::strtol(uac.c_str(), nullptr, 10);
    if ((flags & kAdAccountDisable) != 0) return StaffStatus::kDisabled;
  }
  if (entry.get("pwdAccountLockedTime") != nullptr) return StaffStatus::kDisabled;
  if (!config.departed_filter.empty()) {
    auto found = conn.search(entry.dn, LDAP_SCOPE_BASE, config.departed_filter, {});
    if (!found) return tl::make_unexpected(found.error());
    if (!found->empty()) return StaffStatus::kDeparted;
  }
  return StaffStatus::kActive;
}

Result<Identity> to_identity(const LdapConfig& config, Connection& conn, const Entry& entry,
                             const std::string& user) {
  Identity id;
  id.name = entry.first(config.login_attribute);
  if (id.name.empty()) id.name = user;
  id.source = "ldap";
  id.dn = entry.dn;
  auto groups = groups_of(config, conn, entry);
  if (!groups) return tl::make_unexpected(groups.error());
  id.groups = std::move(*groups);
  std::vector<std::string> canonical;
  for (const auto& g : id.groups) canonical.push_back(canonical_dn(g));
  for (const auto& [role, role_dns] : config.role_groups) {
    const bool has = std::any_of(role_dns.begin(), role_dns.end(), [&](const std::string& dn) {
      return std::find(canonical.begin(), canonical.end(), canonical_dn(dn)) != canonical.end();
    });
    if (has) id.roles.push_back(role);
  }
  auto status = status_of(config, conn, entry);
  if (!status) return tl::make_unexpected(status.error());
  id.status = *status;
  return id;
}

std::string status_word(StaffStatus s) {
  return s == StaffStatus::kDeparted ? "departed" : "disabled";
}

Result<void> validate(const LdapConfig& config) {
  const bool ldaps = starts_with_nocase(config.url, "ldaps://");
  const bool ldap = starts_with_nocase(config.url, "ldap://");
  if (!ldaps && !ldap) {
    return fail(ErrorCode::kInvalidArgument,
                "directory url must start with ldaps:// or ldap://: " + config.url);
  }
  if (config.url.find_first_of(" \t,") != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "directory url must name one server: " + config.url);
  }
  if (ldaps && config.start_tls) {
    return fail(ErrorCode::kInvalidArgument, "start_tls applies to ldap:// urls, not ldaps://");
  }
  if (ldap && !config.start_tls && !config.allow_plaintext) {
    return fail(ErrorCode::kInvalidArgument,
                "refusing plain " + config.url +
                    ": passwords would cross the network in clear (use ldaps:// or start_tls)");
  }
  if (ldaps || config.start_tls) {
    std::error_code ec;
    if (config.ca_file.empty() || !std::filesystem::is_regular_file(config.ca_file, ec)) {
      return fail(ErrorCode::kInvalidArgument,
                  "directory ca_file is missing: '" + config.ca_file.string() + "'");
    }
  }
  if (config.bind_dn.empty())
    return fail(ErrorCode::kInvalidArgument, "directory bind_dn is empty");
  if (config.user_base.empty()) {
    return fail(ErrorCode::kInvalidArgument, "directory user_base is empty");
  }
  if (config.user_filter.find("{user}") == std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "directory user_filter lacks {user}");
  }
  if (config.login_attribute.empty()) {
    return fail(ErrorCode::kInvalidArgument, "directory login_attribute is empty");
  }
  if (config.timeout.count() <= 0) {
    return fail(ErrorCode::kInvalidArgument, "directory timeout must be positive");
  }
  return ok();
}

}  // namespace

bool valid_login_name(const std::string& user) {
  if (user.empty() || user.size() > kMaxNameBytes) return false;
  return std::none_of(user.begin(), user.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == 0x7f;
  });
}

Result<std::unique_ptr<LdapDirectory>> LdapDirectory::create(const LdapConfig& config) {
  if (auto v = validate(config); !v) return tl::make_unexpected(v.error());
  auto file = read_private_file(config.bind_password_file, kMaxPasswordFileBytes);
  if (!file) return tl::make_unexpected(file.error());
  std::string_view line = file->view();
  line = line.substr(0, line.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "directory bind_password_file is empty: " + config.bind_password_file.string());
  }
  Secret password = Secret::copy_of(line);
  return std::unique_ptr<LdapDirectory>(new LdapDirectory(config, std::move(password)));
}

Result<Identity> LdapDirectory::authenticate(const std::string& user, const Secret& password) {
  if (!valid_login_name(user)) {
    return fail(ErrorCode::kInvalidArgument, "malformed user name");
  }
  // An empty simple bind is an anonymous bind that "succeeds": refuse before any connection.
  if (password.empty() || password.size() > kMaxPasswordBytes) {
    return fail(ErrorCode::kUnauthenticated, kWrongCredentials);
  }
  auto conn = service_connection(config_, bind_password_);
  if (!conn) return tl::make_unexpected(conn.error());
  auto entry = find_user(config_, *conn, user);
  if (!entry) {
    if (entry.error().code == ErrorCode::kNotFound) {
      logger()->info("login refused for unknown user {}", user);
      return fail(ErrorCode::kUnauthenticated, kWrongCredentials);
    }
    return tl::make_unexpected(entry.error());
  }
  auto identity = to_identity(config_, *conn, *entry, user);
  if (!identity) return tl::make_unexpected(identity.error());
  if (identity->status == StaffStatus::kDisabled) {
    logger()->info("login refused for disabled user {}", identity->name);
    return fail(ErrorCode::kPermissionDenied, "user " + identity->name + " is disabled");
  }
  // The password is checked on a connection of its own, so the service account's connection is
  // never rebound as the user.
  auto user_conn = Connection::open(config_);
  if (!user_conn) return tl::make_unexpected(user_conn.error());
  const int rc = user_conn->bind(entry->dn, password);
  if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH ||
      rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_INVALID_DN_SYNTAX) {
    logger()->info("login refused for user {}: wrong password", identity->name);
    return fail(ErrorCode::kUnauthenticated, kWrongCredentials);
  }
  if (rc != LDAP_SUCCESS) {
    return tl::make_unexpected(directory_error(config_, user_conn->get(), rc, "bind"));
  }
  if (identity->status != StaffStatus::kActive) {
    logger()->info("login refused for {} user {}", status_word(identity->status), identity->name);
    return fail(ErrorCode::kPermissionDenied,
                "user " + identity->name + " is " + status_word(identity->status));
  }
  return identity;
}

Result<Identity> LdapDirectory::lookup(const std::string& user) {
  if (!valid_login_name(user)) return fail(ErrorCode::kInvalidArgument, "malformed user name");
  auto conn = service_connection(config_, bind_password_);
  if (!conn) return tl::make_unexpected(conn.error());
  auto entry = find_user(config_, *conn, user);
  if (!entry) return tl::make_unexpected(entry.error());
  return to_identity(config_, *conn, *entry, user);
}

Result<std::vector<std::string>> LdapDirectory::group_members(const std::string& group) {
  LDAPDN parsed = nullptr;
  if (group.empty() || ldap_str2dn(group.c_str(), &parsed, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS) {
    return fail(ErrorCode::kInvalidArgument, "malformed group DN");
  }
  ldap_dnfree(parsed);
  auto conn = service_connection(config_, bind_password_);
  if (!conn) return tl::make_unexpected(conn.error());
  auto found = conn->search(group, LDAP_SCOPE_BASE, "(objectClass=*)", {"member", "uniqueMember"});
  if (!found) {
    if (found.error().code == ErrorCode::kNotFound) {
      return fail(ErrorCode::kNotFound, "no group " + group);
    }
    return tl::make_unexpected(found.error());
  }
  if (found->empty()) return fail(ErrorCode::kNotFound, "no group " + group);
  std::vector<std::string> member_dns;
  for (const char* attr : {"member", "uniqueMember"}) {
    if (const auto* v = found->front().get(attr)) {
      member_dns.insert(member_dns.end(), v->begin(), v->end());
    }
  }
  std::vector<std::string> names;
  for (const auto& dn : member_dns) {
    auto member = conn->search(dn, LDAP_SCOPE_BASE, "(objectClass=*)", {config_.login_attribute});
    if (!member) {
      if (member.error().code == ErrorCode::kNotFound) continue;  // dangling member reference
      return tl::make_unexpected(member.error());
    }
    if (member->empty()) continue;
    const std::string name = member->front().first(config_.login_attribute);
    if (!name.empty()) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace sekisho::ldap
