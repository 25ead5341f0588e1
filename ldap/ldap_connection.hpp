// One connection to the LDAP server, as the directory's searches use it: libldap's handle with
// this deployment's options (LDAPv3, no referrals, time-outs, TLS verified against ca_file only),
// a time-out on the TLS handshake that libldap itself lacks, simple binds, and a search that
// returns plain entries. Only ldap/*.cpp include this header (the directory and the rotation
// connector).
#pragma once

#include <ldap.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/c_handle.hpp"
#include "base/logging.hpp"
#include "base/result.hpp"
#include "base/secret.hpp"
#include "ldap/ldap_config.hpp"

namespace sekisho::ldap::detail {

void unbind(LDAP* ld);

using LdapHandle = CHandle<LDAP, unbind>;
using LdapString = CHandle<char, ldap_memfree>;

std::shared_ptr<spdlog::logger> logger();

bool starts_with_nocase(std::string_view text, std::string_view prefix);
std::string lower(std::string text);

// Server and library diagnostics, flattened to a short single line (at most 200 bytes).
std::string one_line(std::string_view text);

// The server's diagnostic message for the last operation on `ld` (may be null), one line; empty
// when there is none.
std::string diagnostic(LDAP* ld);

// Every failure of the directory itself (down, TLS refused, time-out, misconfigured base) is
// kUnavailable: the caller can do nothing but retry later or fix the configuration. `doing`
// names the operation in the message; `ld` (may be null) adds the server's diagnostic.
Error directory_error(const LdapConfig& config, LDAP* ld, int rc, std::string_view doing);

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
// callback records the socket; a HandshakeWatchdog (ldap_connection.cpp) shuts it down if the
// handshake outlives the time-out, which makes the handshake fail at once.
struct ConnectHook {
  ldap_conncb callback{};
  std::mutex mutex;
  int fd = -1;  // the connection's socket while libldap holds it open
};

// One connection, opened per call and closed with it. Not shared between threads.
class Connection {
 public:
  // Initialises the handle with this deployment's options and connects (for LDAPS and StartTLS,
  // shakes hands) within config.timeout. kInvalidArgument for a bad URL, kUnavailable when the
  // server cannot be reached. `config` outlives the connection.
  static Result<Connection> open(const LdapConfig& config);

  // Simple bind. The password is never empty here (an empty simple bind is anonymous).
  [[nodiscard]] int bind(const std::string& dn, const Secret& password);

  // Searches and returns every entry with the requested attributes (`attrs` empty: none).
  // kNotFound when the base does not exist; LDAP_SIZELIMIT_EXCEEDED is reported through
  // `truncated` with the entries received.
  Result<std::vector<Entry>> search(const std::string& base, int scope, const std::string& filter,
                                    const std::vector<std::string>& attrs, int size_limit = 0,
                                    bool* truncated = nullptr);

  LDAP* get() const { return ld_.get(); }

  // After open() failed for an ldaps:// or StartTLS URL: true when the server completes a TLS
  // handshake once certificate verification is off and the certificate it presents is not one
  // that config.ca_file vouches for at this address. Nothing but the handshake (and an unbind) is
  // sent on that connection; it is closed before this returns.
  static bool certificate_untrusted(const LdapConfig& config);

 private:
  static Result<Connection> open(const LdapConfig& config, bool verify_certificate);

  Connection(const LdapConfig& config, std::unique_ptr<ConnectHook> hook, LdapHandle ld)
      : config_(config), hook_(std::move(hook)), ld_(std::move(ld)) {}
  const LdapConfig& config_;
  std::unique_ptr<ConnectHook> hook_;  // referenced by ld_: declared first, destroyed last
  LdapHandle ld_;
};

// A connection bound as the service account (config.bind_dn), or the logged error.
Result<Connection> service_connection(const LdapConfig& config, const Secret& bind_password);

}  // namespace sekisho::ldap::detail
