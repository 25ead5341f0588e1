#include "ldap/ldap_connection.hpp"

#include <arpa/inet.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <thread>

namespace sekisho::ldap::detail {

namespace {

void free_values(berval** values) { ldap_value_free_len(values); }

using MessageHandle = CHandle<LDAPMessage, ldap_msgfree>;
using ValuesHandle = CHandle<berval*, free_values>;

// Trust exactly `ca_file` (not ldap.conf's TLS_CACERTDIR), require a verified certificate (unless
// `verify` is off: only certificate_untrusted's probe) and TLS 1.2+. Per-connection TLS settings
// only take effect through a new context, created last.
bool set_tls_options(LDAP* ld, const std::filesystem::path& ca_file, bool verify) {
  const int require_cert = verify ? LDAP_OPT_X_TLS_HARD : LDAP_OPT_X_TLS_NEVER;
  const int min_tls = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
  const int client_side = 0;
  static const char kNoDir[] = "";
  return ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require_cert) == LDAP_OPT_SUCCESS &&
         ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca_file.c_str()) == LDAP_OPT_SUCCESS &&
         ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTDIR, kNoDir) == LDAP_OPT_SUCCESS &&
         ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min_tls) == LDAP_OPT_SUCCESS &&
         ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &client_side) == LDAP_OPT_SUCCESS;
}

// The server's certificate (DER, as the handshake presented it) chains to a CA in `ca_file` and
// names `host` (an IP address or a DNS name): the check libldap made when it refused the
// connection. Only the leaf is known here, so a chain through an intermediate CA counts as
// untrusted.
bool certificate_verifies(const berval& der, const std::filesystem::path& ca_file,
                          const std::string& host) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.bv_val);
  CHandle<X509, X509_free> cert(d2i_X509(nullptr, &p, static_cast<long>(der.bv_len)));
  CHandle<X509_STORE, X509_STORE_free> store(X509_STORE_new());
  CHandle<X509_STORE_CTX, X509_STORE_CTX_free> ctx(X509_STORE_CTX_new());
  if (!cert || !store || !ctx || X509_STORE_load_file(store.get(), ca_file.c_str()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1 ||
      X509_verify_cert(ctx.get()) != 1) {
    return false;
  }
  unsigned char addr[16];
  const bool ip =
      inet_pton(AF_INET, host.c_str(), addr) == 1 || inet_pton(AF_INET6, host.c_str(), addr) == 1;
  return ip ? X509_check_ip_asc(cert.get(), host.c_str(), 0) == 1
            : X509_check_host(cert.get(), host.data(), host.size(), 0, nullptr) == 1;
}

// The host part of an LDAP URL, or empty.
std::string url_host(const std::string& url) {
  LDAPURLDesc* desc = nullptr;
  if (ldap_url_parse(url.c_str(), &desc) != LDAP_URL_SUCCESS) return {};
  std::string host = desc->lud_host != nullptr ? desc->lud_host : "";
  ldap_free_urldesc(desc);
  return host;
}

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

}  // namespace

void unbind(LDAP* ld) { ldap_unbind_ext_s(ld, nullptr, nullptr); }

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

Result<Connection> Connection::open(const LdapConfig& config) { return open(config, true); }

bool Connection::certificate_untrusted(const LdapConfig& config) {
  const bool tls = starts_with_nocase(config.url, "ldaps://") || config.start_tls;
  if (!tls) return false;
  auto probe = open(config, false);
  if (!probe) return false;  // the server cannot be reached at all
  berval der{};
  if (ldap_get_option(probe->get(), LDAP_OPT_X_TLS_PEERCERT, &der) != LDAP_OPT_SUCCESS ||
      der.bv_val == nullptr) {
    return false;
  }
  // Judged by the certificate itself, not by the probe's success: the first connection may have
  // failed for another reason (a broken handshake) against a server whose certificate is fine.
  const bool verifies = certificate_verifies(der, config.ca_file, url_host(config.url));
  ber_memfree(der.bv_val);
  return !verifies;
}

Result<Connection> Connection::open(const LdapConfig& config, bool verify_certificate) {
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
  set = set && ldap_set_option(ld.get(), LDAP_OPT_CONNECT_CB, &hook->callback) == LDAP_OPT_SUCCESS;
  if (set && tls) set = set_tls_options(ld.get(), config.ca_file, verify_certificate);
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

int Connection::bind(const std::string& dn, const Secret& password) {
  berval cred{static_cast<ber_len_t>(password.size()), const_cast<char*>(password.view().data())};
  return ldap_sasl_bind_s(ld_.get(), dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr,
                          nullptr);
}

Result<std::vector<Entry>> Connection::search(const std::string& base, int scope,
                                              const std::string& filter,
                                              const std::vector<std::string>& attrs, int size_limit,
                                              bool* truncated) {
  std::vector<char*> attr_ptrs;
  static char kNoAttrs[] = "1.1";
  if (attrs.empty()) attr_ptrs.push_back(kNoAttrs);
  for (const auto& a : attrs) attr_ptrs.push_back(const_cast<char*>(a.c_str()));
  attr_ptrs.push_back(nullptr);
  timeval tv{static_cast<time_t>(config_.timeout.count()), 0};
  LDAPMessage* raw = nullptr;
  const int rc = ldap_search_ext_s(ld_.get(), base.c_str(), scope, filter.c_str(), attr_ptrs.data(),
                                   0, nullptr, nullptr, &tv, size_limit, &raw);
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

}  // namespace sekisho::ldap::detail
