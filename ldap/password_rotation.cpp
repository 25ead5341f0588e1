// DirectoryRotationConnector: find the account's entry, bind, and change its password the way its
// directory wants (RFC 3062 Password Modify on OpenLDAP, unicodePwd on AD). The connection and its
// TLS come from ldap_connection.cpp; the UTF-16LE encoding AD wants is at the end.
#include "ldap/password_rotation.hpp"

#include <ldap.h>

#include <optional>
#include <span>
#include <string_view>

#include "ldap/ldap_config.hpp"
#include "ldap/ldap_connection.hpp"
#include "ldap/ldap_directory.hpp"
#include "ldap/ldap_filter.hpp"

namespace sekisho::ldap {

namespace {

using detail::Connection;
using detail::diagnostic;
using rotation::ChangeOutcome;
using rotation::ChangeResult;
using rotation::LoginOutcome;
using rotation::LoginResult;

constexpr std::size_t kMaxSecretBytes = 1024;
constexpr char kAdPolicyError[] = "0000052D";       // ERROR_PASSWORD_RESTRICTION
constexpr char kAdWrongOldPassword[] = "00000056";  // ERROR_INVALID_PASSWORD

// Why a step before the change itself stopped; nothing was changed in any case.
enum class Stop { kUnreachable, kUntrusted, kRefused, kNoEntry };
struct Problem {
  Stop stop;
  std::string message;
};
template <typename T>
using Step = tl::expected<T, Problem>;

tl::unexpected<Problem> stop(Stop kind, std::string message) {
  return tl::make_unexpected(Problem{kind, std::move(message)});
}

// The connection settings of one directory account, in the form ldap_connection takes.
LdapConfig connection_config(const DirectoryAccount& account) {
  LdapConfig config;
  config.url = account.url;
  config.ca_file = account.ca_file;
  config.start_tls = account.start_tls;
  config.timeout = account.timeout;
  return config;
}

// Refuses what ldap_connection would accept only for tests (plain ldap://) and what it cannot
// check itself (a CA file), before anything is sent.
Step<void> validate(const DirectoryAccount& account) {
  const bool ldaps = detail::starts_with_nocase(account.url, "ldaps://");
  const bool ldap = detail::starts_with_nocase(account.url, "ldap://");
  if (!ldaps && !(ldap && account.start_tls)) {
    return stop(Stop::kUnreachable,
                "directory url must be ldaps:// (or ldap:// with StartTLS): " + account.url);
  }
  if (account.ca_file.empty()) return stop(Stop::kUnreachable, "directory has no CA file");
  if (account.timeout.count() <= 0) return stop(Stop::kUnreachable, "timeout must be positive");
  return {};
}

// A verified TLS connection, or why not: kUntrusted when the server answers with a certificate
// the CA does not vouch for.
Step<Connection> connect(const LdapConfig& config) {
  auto conn = Connection::open(config);
  if (conn) return std::move(*conn);
  if (Connection::certificate_untrusted(config)) {
    return stop(Stop::kUntrusted, "directory " + config.url + " presents a certificate that " +
                                      config.ca_file.string() +
                                      " does not vouch for at this address; nothing was sent");
  }
  return stop(Stop::kUnreachable, conn.error().message);
}

Step<Connection> bound_as(const LdapConfig& config, const std::string& dn, const Secret& password) {
  if (password.empty() || password.size() > kMaxSecretBytes) {
    return stop(Stop::kRefused, "no usable password for " + dn + " (empty or too long)");
  }
  auto conn = connect(config);
  if (!conn) return tl::make_unexpected(conn.error());
  const int rc = conn->bind(dn, password);
  if (rc == LDAP_SUCCESS) return std::move(*conn);
  // libldap's own codes are negative: the server did not answer.
  std::string why = "directory " + config.url +
                    (rc < 0 ? " was lost during the bind as " : " refused the bind as ") + dn +
                    ": " + ldap_err2string(rc);
  if (const std::string diag = diagnostic(conn->get()); !diag.empty()) why += " (" + diag + ")";
  return stop(rc < 0 ? Stop::kUnreachable : Stop::kRefused, why);
}

std::string default_attribute(const DirectoryAccount& account) {
  if (!account.search_attribute.empty()) return account.search_attribute;
  return account.flavour == DirectoryFlavour::kActiveDirectory ? "sAMAccountName" : "uid";
}

// The DN of `name`: from the template, or the one entry a search finds.
Step<std::string> account_dn(const DirectoryAccount& account, const LdapConfig& config,
                             const std::string& name) {
  if (!valid_login_name(name)) return stop(Stop::kNoEntry, "malformed account name");
  if (!account.dn_template.empty()) {
    std::string dn = account.dn_template;
    const std::string escaped = escape_dn_value(name);
    constexpr std::string_view kPlaceholder = "{account}";
    for (auto at = dn.find(kPlaceholder); at != std::string::npos;
         at = dn.find(kPlaceholder, at + escaped.size())) {
      dn.replace(at, kPlaceholder.size(), escaped);
    }
    return dn;
  }
  const bool own = !account.search_bind_dn.empty();
  const std::string& bind_dn = own ? account.search_bind_dn : account.reconcile_dn;
  if (account.search_base.empty() || bind_dn.empty()) {
    return stop(Stop::kUnreachable, "directory account " + name +
                                        ": neither a DN template nor a search base and account");
  }
  auto conn =
      bound_as(config, bind_dn, own ? account.search_bind_password : account.reconcile_password);
  if (!conn) {
    // A refused search account says nothing about the account's own password: the directory
    // cannot be asked (a refused reconcile account stays a refusal: reset() reports it so).
    Problem p = conn.error();
    if (own && p.stop == Stop::kRefused) p.stop = Stop::kUnreachable;
    return tl::make_unexpected(std::move(p));
  }
  const std::string filter =
      "(" + default_attribute(account) + "=" + escape_filter_value(name) + ")";
  bool truncated = false;
  auto found = conn->search(account.search_base, LDAP_SCOPE_SUBTREE, filter, {}, 2, &truncated);
  if (!found && found.error().code != ErrorCode::kNotFound) {
    return stop(Stop::kUnreachable, found.error().message);
  }
  if (!found || found->size() != 1 || truncated) {
    // Never guess between two entries.
    return stop(Stop::kNoEntry,
                "directory has " +
                    std::string(found && !found->empty() ? "several entries" : "no entry") +
                    " for " + name + " under " + account.search_base);
  }
  return found->front().dn;
}

// Writes `"` + text + `"` as UTF-16LE to `out` (when not null) and returns the number of UTF-16
// code units, or -1 when `text` is not strict UTF-8 (overlong forms, surrogates, past U+10FFFF).
// Called twice, to size and then to fill, so the secret is written once into memory of its size.
long quoted_utf16le(std::span<const std::uint8_t> text, std::uint8_t* out) {
  std::size_t n = 0;
  const auto put = [&](std::uint32_t unit) {
    if (out != nullptr) {
      out[2 * n] = static_cast<std::uint8_t>(unit & 0xff);
      out[2 * n + 1] = static_cast<std::uint8_t>(unit >> 8);
    }
    ++n;
  };
  static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  put('"');
  for (std::size_t i = 0; i < text.size();) {
    const std::uint8_t b = text[i];
    const std::size_t len = b < 0x80           ? 1
                            : (b >> 5) == 0x6  ? 2
                            : (b >> 4) == 0xe  ? 3
                            : (b >> 3) == 0x1e ? 4
                                               : 0;
    if (len == 0 || i + len > text.size()) return -1;
    std::uint32_t cp = len == 1 ? b : b & (0x7f >> len);
    for (std::size_t k = 1; k < len; ++k) {
      if ((text[i + k] & 0xc0) != 0x80) return -1;
      cp = (cp << 6) | (text[i + k] & 0x3f);
    }
    if (cp < kMinimum[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    if (cp >= 0x10000) {
      put(0xd800 + ((cp - 0x10000) >> 10));
      put(0xdc00 + ((cp - 0x10000) & 0x3ff));
    } else {
      put(cp);
    }
    i += len;
  }
  put('"');
  return static_cast<long>(n);
}

ChangeResult change_stopped(const Problem& p) {
  switch (p.stop) {
    case Stop::kUntrusted:
      return {ChangeOutcome::kHostKeyMismatch, p.message};
    case Stop::kRefused:
    case Stop::kNoEntry:
      return {ChangeOutcome::kRefusedOld, p.message};
    case Stop::kUnreachable:
      break;
  }
  return {ChangeOutcome::kUnreachable, p.message};
}

// AD's words for a policy refusal, without its internal DSID codes: Samba says which rule
// ("check_password_restrictions: the password is too short…"), Windows only "SvcErr: DSID-…".
std::string ad_policy_words(const std::string& diag) {
  std::string words = diag.substr(diag.find(kAdPolicyError) + sizeof kAdPolicyError - 1);
  for (const char* prefix : {":", " ", "Constraint violation", " - "}) {
    if (words.rfind(prefix, 0) == 0) words.erase(0, std::string_view(prefix).size());
  }
  return words.rfind("SvcErr", 0) == 0 ? std::string() : words;
}

int password_modify(LDAP* ld, const std::string& dn, const Secret* old, const Secret& next) {
  berval user{static_cast<ber_len_t>(dn.size()), const_cast<char*>(dn.data())};
  berval old_pw{};
  if (old != nullptr)
    old_pw = {static_cast<ber_len_t>(old->size()), const_cast<char*>(old->view().data())};
  berval new_pw{static_cast<ber_len_t>(next.size()), const_cast<char*>(next.view().data())};
  berval generated{};
  const int rc = ldap_passwd_s(ld, &user, old != nullptr ? &old_pw : nullptr, &new_pw, &generated,
                               nullptr, nullptr);
  // The server generates a password only when none is sent: there is none to wipe here.
  if (generated.bv_val != nullptr) ber_memfree(generated.bv_val);
  return rc;
}

// One modify of unicodePwd: delete(old) + add(new) for a change, replace(new) for a reset.
int modify_unicode_pwd(LDAP* ld, const std::string& dn, const Secret* old_value,
                       const Secret& new_value) {
  static char kAttr[] = "unicodePwd";
  berval old_bv{};
  berval new_bv{static_cast<ber_len_t>(new_value.size()),
                reinterpret_cast<char*>(const_cast<std::uint8_t*>(new_value.data()))};
  berval* old_vals[] = {&old_bv, nullptr};
  berval* new_vals[] = {&new_bv, nullptr};
  LDAPMod del{};
  LDAPMod put{};
  put.mod_type = kAttr;
  put.mod_bvalues = new_vals;
  LDAPMod* mods[3] = {&put, nullptr, nullptr};
  if (old_value != nullptr) {
    old_bv = {static_cast<ber_len_t>(old_value->size()),
              reinterpret_cast<char*>(const_cast<std::uint8_t*>(old_value->data()))};
    del.mod_op = LDAP_MOD_DELETE | LDAP_MOD_BVALUES;
    del.mod_type = kAttr;
    del.mod_bvalues = old_vals;
    put.mod_op = LDAP_MOD_ADD | LDAP_MOD_BVALUES;
    mods[0] = &del;
    mods[1] = &put;
  } else {
    put.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
  }
  return ldap_modify_ext_s(ld, dn.c_str(), mods, nullptr, nullptr);
}

// Sends the change (old != nullptr) or reset on a connection bound as the right DN.
ChangeResult send_change(const DirectoryAccount& account, Connection& conn, const std::string& dn,
                         const Secret* old, const Secret& next) {
  if (next.empty() || next.size() > kMaxSecretBytes) {
    return {ChangeOutcome::kPasswordRejected, "the new password is empty or too long"};
  }
  if (account.flavour == DirectoryFlavour::kOpenLdap) {
    const int rc = password_modify(conn.get(), dn, old, next);
    return detail::change_answer(account.flavour, account.url, rc, diagnostic(conn.get()),
                                 old == nullptr, dn);
  }
  auto next_value = ad_unicode_pwd(next);
  if (!next_value) return {ChangeOutcome::kPasswordRejected, next_value.error().message};
  std::optional<Secret> old_value;
  if (old != nullptr) {
    auto encoded = ad_unicode_pwd(*old);
    if (!encoded)
      return {ChangeOutcome::kRefusedOld, "the vaulted password: " + encoded.error().message};
    old_value = std::move(*encoded);
  }
  const int rc = modify_unicode_pwd(conn.get(), dn, old_value ? &*old_value : nullptr, *next_value);
  return detail::change_answer(account.flavour, account.url, rc, diagnostic(conn.get()),
                               old == nullptr, dn);
}

}  // namespace

namespace detail {

ChangeResult change_answer(DirectoryFlavour flavour, const std::string& url, int rc,
                           const std::string& diag, bool reset, const std::string& dn) {
  if (rc == LDAP_SUCCESS)
    return {ChangeOutcome::kChanged, "directory changed the password of " + dn};
  const std::string said =
      std::string(ldap_err2string(rc)) + (diag.empty() ? "" : " (" + diag + ")");
  if (rc < 0) {
    return {ChangeOutcome::kUnknown,
            "connection to " + url + " broke while the change ran: " + said};
  }
  const bool ad = flavour == DirectoryFlavour::kActiveDirectory;
  if (ad && diag.find(kAdPolicyError) != std::string::npos) {
    const std::string words = ad_policy_words(diag);
    return {
        ChangeOutcome::kPasswordRejected,
        "the domain's password policy refused the new password" +
            (words.empty() ? std::string(" (length, complexity, history or age)") : ": " + words)};
  }
  if (ad && diag.find(kAdWrongOldPassword) != std::string::npos) {
    return {ChangeOutcome::kRefusedOld, "the domain refused the vaulted password as the old one"};
  }
  if (reset && (rc == LDAP_INSUFFICIENT_ACCESS || rc == LDAP_INVALID_CREDENTIALS)) {
    return {ChangeOutcome::kRefusedOld, "the reconcile account may not reset " + dn + ": " + said};
  }
  if (rc == LDAP_CONSTRAINT_VIOLATION) {
    return {ChangeOutcome::kPasswordRejected,
            "the directory's password policy refused the new password: " +
                (diag.empty() ? said : diag)};
  }
  // Any other answer is still an answer: the directory did not apply the operation.
  return {ChangeOutcome::kPasswordRejected,
          "the directory refused the change of " + dn + ": " + said};
}

}  // namespace detail

ChangeResult DirectoryRotationConnector::change(const rotation::Target& target,
                                                const Secret& current, const Secret& next) {
  auto account = lookup_(target);
  if (!account) return {ChangeOutcome::kUnreachable, account.error().message};
  if (auto v = validate(*account); !v) return change_stopped(v.error());
  const LdapConfig config = connection_config(*account);
  auto dn = account_dn(*account, config, target.account);
  if (!dn) return change_stopped(dn.error());
  // Bound as the account itself: the directory checks the vaulted password and applies the
  // policy it applies to its users' own changes.
  auto conn = bound_as(config, *dn, current);
  if (!conn) return change_stopped(conn.error());
  ChangeResult result = send_change(*account, *conn, *dn, &current, next);
  detail::logger()->info("rotation of {}@{}: {}", target.account, target.host, result.message);
  return result;
}

ChangeResult DirectoryRotationConnector::reset(const rotation::Target& target, const Secret& next) {
  auto account = lookup_(target);
  if (!account) return {ChangeOutcome::kUnreachable, account.error().message};
  if (auto v = validate(*account); !v) return change_stopped(v.error());
  if (account->reconcile_dn.empty()) {
    return {ChangeOutcome::kRefusedOld, "directory " + target.host + " has no reconcile account"};
  }
  const LdapConfig config = connection_config(*account);
  auto dn = account_dn(*account, config, target.account);
  if (!dn) return change_stopped(dn.error());
  auto conn = bound_as(config, account->reconcile_dn, account->reconcile_password);
  if (!conn) return change_stopped(conn.error());
  ChangeResult result = send_change(*account, *conn, *dn, nullptr, next);
  detail::logger()->info("reset of {}@{} by {}: {}", target.account, target.host,
                         account->reconcile_dn, result.message);
  return result;
}

LoginResult DirectoryRotationConnector::try_login(const rotation::Target& target,
                                                  const Secret& secret) {
  auto account = lookup_(target);
  if (!account) return {LoginOutcome::kUnreachable, account.error().message};
  const auto stopped = [](const Problem& p) -> LoginResult {
    switch (p.stop) {
      case Stop::kUntrusted:
        return {LoginOutcome::kHostKeyMismatch, p.message};
      case Stop::kRefused:
      case Stop::kNoEntry:
        return {LoginOutcome::kRefused, p.message};
      case Stop::kUnreachable:
        break;
    }
    return {LoginOutcome::kUnreachable, p.message};
  };
  if (auto v = validate(*account); !v) return stopped(v.error());
  const LdapConfig config = connection_config(*account);
  auto dn = account_dn(*account, config, target.account);
  // A refused search account says nothing about this secret.
  if (!dn && dn.error().stop == Stop::kRefused)
    return {LoginOutcome::kUnreachable, dn.error().message};
  if (!dn) return stopped(dn.error());
  auto conn = bound_as(config, *dn, secret);
  if (!conn) return stopped(conn.error());
  return {LoginOutcome::kAccepted, "directory " + account->url + " accepted the bind as " + *dn};
}

Result<Secret> ad_unicode_pwd(const Secret& password) {
  const long count = quoted_utf16le(password.bytes(), nullptr);
  if (count < 0) return fail(ErrorCode::kInvalidArgument, "password is not valid UTF-8");
  Secret out(static_cast<std::size_t>(count) * 2);
  quoted_utf16le(password.bytes(), out.data());
  return out;
}

}  // namespace sekisho::ldap
