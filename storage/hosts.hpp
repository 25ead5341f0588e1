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
  std::string protocol;  // "ssh" or "rdp"
  std::string group;
  std::string host_key;              // pinned public key line (ssh); empty when not pinned
  std::string host_key_fingerprint;  // SHA256:…
  std::string created_at;
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
[[nodiscard]] Result<std::optional<HostRecord>> find_host(Store::Tx& tx, const std::string& name);
[[nodiscard]] Result<std::vector<HostRecord>> list_hosts(Store::Tx& tx);
// Removes a host with its accounts and their credentials. kNotFound when absent.
[[nodiscard]] Result<void> remove_host(Store::Tx& tx, const std::string& name);

[[nodiscard]] Result<std::vector<AccountRecord>> list_accounts(Store::Tx& tx, std::int64_t host_id);

// Vaults the first credential of a new account on `host_id` as its current version. Refuses an
// existing account (kAlreadyExists) and a password that is already current for an account on any
// other host (kInvalidArgument): every host must have its own password.
[[nodiscard]] Result<std::int64_t> add_account(Store::Tx& tx, std::int64_t host_id,
                                               const std::string& name, const std::string& kind,
                                               const Secret& secret,
                                               std::optional<std::int64_t> rotate_every_seconds,
                                               const std::string& created_at);

}  // namespace sekisho::storage
