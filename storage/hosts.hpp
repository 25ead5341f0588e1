// Managed hosts, their privileged accounts, and the vaulted credentials of those accounts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/names.hpp"
#include "base/result.hpp"
#include "base/secret.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

struct HostRecord {
  std::int64_t id = 0;
  std::string name;
  std::string address;
  int port = 0;
  std::string protocol;  // "ssh", "rdp" or "ldap"
  std::string group;
  std::string host_key;              // pinned public key line (ssh); empty when not pinned
  std::string host_key_fingerprint;  // SHA256:…
  std::string created_at;
  // When `hosts remove` retired it ("" while in service): a host with requests or sessions on
  // record is kept for their history, takes no new requests or sessions, and is not rotated.
  std::string retired_at;
};

struct AccountRecord {
  std::int64_t id = 0;
  std::string name;
  std::string kind;  // kind of the current credential: "password" or "key"; empty if none
  std::optional<std::int64_t> rotate_every_seconds;
  std::string created_at;
};

// The name rules live in base/names.hpp (the session worker applies them too).
using sekisho::check_account_name;
using sekisho::check_host_name;

[[nodiscard]] Result<std::int64_t> insert_host(Store::Tx& tx, const HostRecord& host);
// Finds a host, retired or not (callers check retired_at).
[[nodiscard]] Result<std::optional<HostRecord>> find_host(Store::Tx& tx, const std::string& name);
// Every host by name, retired ones included (with retired_at set): `hosts list` marks them, and
// hiding them would hide why a name cannot be added again.
[[nodiscard]] Result<std::vector<HostRecord>> list_hosts(Store::Tx& tx);
// Removes a host with its accounts and their credentials. kNotFound when absent; kAlreadyExists
// when it has history (requests or sessions; the message counts them): retire it instead.
[[nodiscard]] Result<void> remove_host(Store::Tx& tx, const std::string& name);
// Whether any request or session names an account of the host (history that must be kept).
[[nodiscard]] Result<bool> host_has_history(Store::Tx& tx, const std::string& name);
// Retires a host at `now`: it stays with its accounts, credentials and history. kNotFound when
// absent; kAlreadyExists "host NAME is already retired".
[[nodiscard]] Result<void> retire_host(Store::Tx& tx, const std::string& name,
                                       const std::string& now);
// Pins `key_line` (an OpenSSH public key line) with its fingerprint as the host's key, replacing
// the old one. kNotFound when absent; kInvalidArgument for an empty key or fingerprint.
[[nodiscard]] Result<void> repin_host_key(Store::Tx& tx, const std::string& name,
                                          const std::string& key_line,
                                          const std::string& fingerprint);

[[nodiscard]] Result<std::vector<AccountRecord>> list_accounts(Store::Tx& tx, std::int64_t host_id);

// Vaults the first credential of a new account on `host_id` as its current version. Refuses an
// existing account (kAlreadyExists) and a password that is already current for an account on any
// other host (kInvalidArgument): every host must have its own password.
// Refuses (kInvalidArgument) a password that is current or pending for an account of any host
// other than `host_id`: every host must have its own. add_account and store_pending apply it.
[[nodiscard]] Result<void> check_password_unique(Store::Tx& tx, std::int64_t host_id,
                                                 const Secret& secret);

[[nodiscard]] Result<std::int64_t> add_account(Store::Tx& tx, std::int64_t host_id,
                                               const std::string& name, const std::string& kind,
                                               const Secret& secret,
                                               std::optional<std::int64_t> rotate_every_seconds,
                                               const std::string& created_at);

}  // namespace sekisho::storage
