#include "ldap/local_directory.hpp"

#include "base/password_hash.hpp"
#include "storage/users.hpp"

namespace sekisho::ldap {

namespace {

// A fixed yescrypt hash of a random password nobody knows: checking it costs an unknown user
// the same time as a known one, so timing does not reveal which names exist.
constexpr char kDummyHash[] =
    "$y$j9T$3LUJrv4QGI1VpYEg5pvUD.$QO1DY/AvhOFAdZcrOPZ26uGP5Gb4sVRVFtGW7w8IIq.";

Identity to_identity(const storage::UserRecord& u) {
  Identity id;
  id.name = u.name;
  id.source = "local";
  id.roles = u.roles;
  id.status = u.disabled ? StaffStatus::kDisabled : StaffStatus::kActive;
  id.must_change_password = u.must_change_password;
  return id;
}

Result<std::optional<storage::UserRecord>> find(storage::Store& store, const std::string& user) {
  std::optional<storage::UserRecord> record;
  auto r = store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto found = storage::find_user(tx, user);
    if (!found) return tl::make_unexpected(found.error());
    record = std::move(*found);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return record;
}

}  // namespace

Result<Identity> LocalDirectory::authenticate(const std::string& user, const Secret& password) {
  auto record = find(store_, user);
  if (!record) return tl::make_unexpected(record.error());
  const bool local = *record && (*record)->source == "local" && !(*record)->password_hash.empty();
  const bool matches = password_matches(password, local ? (*record)->password_hash : kDummyHash);
  if (!local || !matches || password.empty()) {
    return fail(ErrorCode::kUnauthenticated, "wrong user name or password");
  }
  if ((*record)->disabled)
    return fail(ErrorCode::kPermissionDenied, "user " + user + " is disabled");
  return to_identity(**record);
}

Result<Identity> LocalDirectory::lookup(const std::string& user) {
  auto record = find(store_, user);
  if (!record) return tl::make_unexpected(record.error());
  if (!*record || (*record)->source != "local")
    return fail(ErrorCode::kNotFound, "no user " + user);
  return to_identity(**record);
}

Result<std::vector<std::string>> LocalDirectory::group_members(const std::string& group) {
  std::vector<std::string> names;
  if (group.rfind("role:", 0) != 0) return names;
  const std::string role = group.substr(5);
  auto r = store_.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto users = storage::list_users(tx);
    if (!users) return tl::make_unexpected(users.error());
    for (const auto& u : *users) {
      for (const auto& ur : u.roles) {
        if (ur == role && u.source == "local" && !u.disabled) names.push_back(u.name);
      }
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return names;
}

}  // namespace sekisho::ldap
