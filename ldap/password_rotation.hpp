// The rotation connector for directory accounts: a host of `--protocol ldap` is an OpenLDAP
// server or an Active Directory domain controller, and its accounts (`svc-backup@corp`) are
// entries in it. Speaks LDAPS (or StartTLS) through ldap/ldap_connection, verified against the
// directory's own CA.
//
// Which way it changes a password, and why:
//  - change() is a SELF-CHANGE, bound as the account with its vaulted password. The directory
//    then applies its own policy for user changes (OpenLDAP ppolicy quality, length and history;
//    AD's complexity, length, history and minimum age), proves the vaulted password still works,
//    and needs no administrator right on the directory at all.
//      OpenLDAP: RFC 3062 Password Modify extended operation with the old and the new password.
//      AD: one modify of unicodePwd, delete(old) + add(new), each the UTF-16LE of the quoted
//      password (AD's "change password", which checks the old one).
//  - reset() is an ADMINISTRATOR RESET, bound as the directory's reconcile account: it is the way
//    back when the vault no longer knows a password the directory accepts.
//      OpenLDAP: the same Password Modify operation without the old password (the reconcile DN
//      needs write access to the entry's userPassword). AD: replace unicodePwd (the reconcile
//      account needs the "Reset Password" right on the account, e.g. Account Operators).
//  - try_login() is a simple bind as the account on a fresh connection.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "rotation/connector.hpp"

namespace sekisho::ldap {

enum class DirectoryFlavour { kOpenLdap, kActiveDirectory };

// Everything the connector needs to know about one directory account, from the store (the host's
// address, its account) and the configuration (CA, how to find entries, the reconcile account).
struct DirectoryAccount {
  std::string url;                // "ldaps://ADDR:PORT" (an IP address: it is what the cert names)
  std::filesystem::path ca_file;  // the PEM CA that signed the directory's certificate
  bool start_tls = false;         // for an ldap:// url: upgrade with StartTLS (never plain)
  DirectoryFlavour flavour = DirectoryFlavour::kOpenLdap;

  // The account's DN: from dn_template when it is set ("uid={account},ou=services,dc=example,
  // dc=com"; {account} is replaced by the RFC 4514-escaped account name), otherwise found by a
  // subtree search under search_base for (search_attribute=ACCOUNT) — exactly one entry, or none.
  std::string dn_template;
  std::string search_base;
  std::string search_attribute;  // empty: "uid" (OpenLDAP) or "sAMAccountName" (AD)
  // The account the search binds as. Empty: the reconcile account searches.
  std::string search_bind_dn;
  Secret search_bind_password;

  // The reconcile (administrator) account for reset(); optional.
  std::string reconcile_dn;
  Secret reconcile_password;

  std::chrono::seconds timeout{10};  // per network step (connect, handshake, each operation)
};

// Finds the directory account of a rotation target (its host must be of protocol ldap).
// kNotFound / kInvalidArgument when there is none or its configuration is incomplete. Must be
// callable from several threads.
using DirectoryAccountLookup =
    std::function<Result<DirectoryAccount>(const rotation::Target& target)>;

// A rotation::Connector for directory accounts. Holds no connection between calls (each call opens
// its own and closes it), so any thread may call it. Its messages carry the directory's own words
// (bounded, one line), never a secret. How outcomes map:
//  - the lookup fails, no TCP/TLS connection, or the search account is refused → kUnreachable;
//    the server's certificate is not signed by ca_file (or names another address) →
//    kHostKeyMismatch; nothing was sent.
//  - the bind with the vaulted password (change) or as the reconcile account (reset) is refused,
//    the entry is not found, or reset() has no reconcile account → kRefusedOld.
//  - the directory answers the change with an error (policy: ppolicy's constraint violation, AD's
//    0000052D; or a missing right) → kPasswordRejected: the directory kept the old password.
//  - the connection breaks or times out after the change was sent → kUnknown.
//  - try_login: bind accepted → kAccepted; invalid credentials (49) or an empty secret (which LDAP
//    would treat as an anonymous bind: never sent) → kRefused; no connection, or the DN cannot be
//    searched for → kUnreachable; untrusted certificate → kHostKeyMismatch.
class DirectoryRotationConnector final : public rotation::Connector {
 public:
  explicit DirectoryRotationConnector(DirectoryAccountLookup lookup) : lookup_(std::move(lookup)) {}

  rotation::ChangeResult change(const rotation::Target& target, const Secret& current,
                                const Secret& next) override;
  rotation::ChangeResult reset(const rotation::Target& target, const Secret& next) override;
  rotation::LoginResult try_login(const rotation::Target& target, const Secret& secret) override;

 private:
  DirectoryAccountLookup lookup_;
};

// AD's unicodePwd value for `password`: the UTF-16LE encoding of the password in double quotes.
// kInvalidArgument for a password that is not valid UTF-8 (it could not be what was vaulted).
Result<Secret> ad_unicode_pwd(const Secret& password);

namespace detail {
// What the directory's answer to a change (reset: as the reconcile account, without the old
// password) means for the vault: `rc` is the LDAP result code (libldap's own codes, negative, mean
// the connection broke or timed out after the request was sent), `diag` the server's diagnostic
// text. Never echoes a password (the server's words do not contain one). Exposed for unit tests:
// AD's Windows-style diagnostics cannot be produced by the test's Samba.
rotation::ChangeResult change_answer(DirectoryFlavour flavour, const std::string& url, int rc,
                                     const std::string& diag, bool reset, const std::string& dn);
}  // namespace detail

}  // namespace sekisho::ldap
