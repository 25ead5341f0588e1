// Builds the configured Directory: the local user table or LDAP / Active Directory.
#pragma once

#include <memory>

#include "base/result.hpp"
#include "broker/daemon/config.hpp"
#include "ldap/directory.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// `store` must outlive the directory (the local directory reads users from it).
[[nodiscard]] Result<std::unique_ptr<ldap::Directory>> make_directory(const Config& config,
                                                                      storage::Store& store);

}  // namespace sekisho::broker
