// Reading vaulted credentials back for the gateways: the one thing a session needs from the vault
// is the current secret of ACCOUNT@HOST, and only the core calls this (workers never open the
// store).
#pragma once

#include <string>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

struct VaultedCredential {
  std::string kind;  // "password" or "key"
  Secret secret;
};

// The current credential of `account` on `host`. kNotFound (naming the target, never the secret)
// when the account is unknown or has no current credential.
[[nodiscard]] Result<VaultedCredential> current_credential(Store::Tx& tx,
                                                           const std::string& account,
                                                           const std::string& host);

}  // namespace sekisho::storage
