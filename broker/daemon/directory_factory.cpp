#include "broker/daemon/directory_factory.hpp"

#include "ldap/ldap_directory.hpp"
#include "ldap/local_directory.hpp"

namespace sekisho::broker {

Result<std::unique_ptr<ldap::Directory>> make_directory(const Config& config,
                                                        storage::Store& store) {
  if (config.directory_kind == "ldap") {
    auto ldap = ldap::LdapDirectory::create(config.ldap);
    if (!ldap) return fail(ldap.error().code, "[directory]: " + ldap.error().message);
    return std::unique_ptr<ldap::Directory>(std::move(*ldap));
  }
  return std::unique_ptr<ldap::Directory>(std::make_unique<ldap::LocalDirectory>(store));
}

}  // namespace sekisho::broker
