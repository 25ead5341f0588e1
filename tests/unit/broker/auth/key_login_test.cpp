// AuthService's account checks for leavers over a real encrypted store and a scripted LDAP
// directory: the key login check (disabled, departed, gone, directory down; local users never
// ask the directory) and local accounts' password logins beside an LDAP directory.
#include <gtest/gtest.h>

#include "base/password_hash.hpp"
#include "broker/auth/auth_service.hpp"
#include "ldap/totp.hpp"
#include "storage/user_keys.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"
#include "tests/unit/broker/auth/scripted_directory.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;
using testing::ScriptedDirectory;

class KeyLoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = testing::make_test_store();
    config_.token_ttl = 1h;
    auth_ = std::make_unique<AuthService>(*t_->store, *t_->log, dir_, config_, t_->clock);
  }

  // A user of `source` with the key "SHA256:NAME"; local users get the password "NAME-password-1".
  std::int64_t user_with_key(const std::string& name, const std::string& source) {
    std::int64_t id = 0;
    auto hash = hash_password(Secret::copy_of(std::string_view(name + "-password-1")));
    EXPECT_TRUE(hash);
    EXPECT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto made = source == "ldap"
                      ? storage::ensure_directory_user(tx, name, "2026-01-01T00:00:00.000Z")
                      : storage::create_user(
                            tx, {name, *hash, {"requester"}, false, "2026-01-01T00:00:00.000Z"});
      if (!made) return tl::make_unexpected(made.error());
      id = *made;
      return storage::add_user_key(
          tx, id, {"SHA256:" + name, "ssh-ed25519 AAAA " + name, name, "2026-01-01T00:00:00.000Z"});
    }));
    return id;
  }

  void disable(std::int64_t id) {
    ASSERT_TRUE(t_->store->transact(
        [&](storage::Store::Tx& tx) { return storage::set_disabled(tx, id, true); }));
  }

  // The refusal of a key login as "reason|message|user", or "ok".
  std::string key_login(const std::string& fingerprint) {
    auto r = auth_->gateway_key(fingerprint);
    if (r) return "ok";
    return r.error().reason + "|" + r.error().error.message + "|" + r.error().user;
  }

  std::unique_ptr<testing::TestStore> t_;
  ScriptedDirectory dir_;
  AuthConfig config_;
  std::unique_ptr<AuthService> auth_;
};

TEST_F(KeyLoginTest, UnknownKeyIsLeftToTheCaller) {
  EXPECT_EQ(key_login("SHA256:nobody"), "ok");
  EXPECT_EQ(dir_.lookups, 0);
}

TEST_F(KeyLoginTest, DisabledUsersKeyIsRefused) {
  disable(user_with_key("lou", "local"));
  EXPECT_EQ(key_login("SHA256:lou"), "user_disabled|user lou is disabled in the gateway|lou");
  disable(user_with_key("dan", "ldap"));
  dir_.people["dan"] = ScriptedDirectory::person("dan", {"requester"});
  EXPECT_EQ(key_login("SHA256:dan"), "user_disabled|user dan is disabled in the gateway|dan");
}

TEST_F(KeyLoginTest, LdapOwnerIsAskedEveryTime) {
  user_with_key("amy", "ldap");
  dir_.people["amy"] = ScriptedDirectory::person("amy", {"requester"});
  EXPECT_EQ(key_login("SHA256:amy"), "ok");
  dir_.people["amy"] =
      ScriptedDirectory::person("amy", {"requester"}, ldap::StaffStatus::kDeparted);
  EXPECT_EQ(key_login("SHA256:amy"), "disabled_or_departed|user amy is departed|amy");
  dir_.people["amy"] =
      ScriptedDirectory::person("amy", {"requester"}, ldap::StaffStatus::kDisabled);
  EXPECT_EQ(key_login("SHA256:amy"), "disabled_or_departed|user amy is disabled|amy");
  dir_.people.erase("amy");
  EXPECT_EQ(key_login("SHA256:amy"), "not_in_directory|user amy is not in the directory|amy");
  EXPECT_EQ(dir_.lookups, 4);
}

TEST_F(KeyLoginTest, DirectoryDownFailsClosedForLdapUsersOnly) {
  user_with_key("amy", "ldap");
  user_with_key("rescue", "local");
  dir_.people["amy"] = ScriptedDirectory::person("amy", {"requester"});
  dir_.down = true;
  EXPECT_EQ(key_login("SHA256:amy"),
            "directory_unavailable|the directory cannot be reached: new logins are refused until "
            "it answers|amy");
  EXPECT_EQ(key_login("SHA256:rescue"), "ok");
  EXPECT_EQ(dir_.lookups, 1);
}

// What the key still needs: a TOTP code for an enrolled owner; enrolment first when a role of the
// owner (from the directory for LDAP users, from the store for local ones) requires TOTP.
TEST_F(KeyLoginTest, TheKeyTellsItsOwnersTotpState) {
  config_.require_totp_for = {"auditor"};
  auth_ = std::make_unique<AuthService>(*t_->store, *t_->log, dir_, config_, t_->clock);
  const std::int64_t amy = user_with_key("amy", "ldap");
  dir_.people["amy"] = ScriptedDirectory::person("amy", {"requester"});
  user_with_key("lou", "local");
  auto plain = auth_->gateway_key("SHA256:amy");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->user_id, amy);
  EXPECT_FALSE(plain->totp_enrolled);
  EXPECT_FALSE(plain->totp_enrollment_required);
  dir_.people["amy"] = ScriptedDirectory::person("amy", {"auditor"});
  auto required = auth_->gateway_key("SHA256:amy");
  ASSERT_TRUE(required);
  EXPECT_TRUE(required->totp_enrollment_required);
  ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (auto e = storage::set_totp_pending(tx, amy, ldap::generate_totp_secret()); !e) return e;
    return storage::confirm_totp(tx, amy);
  }));
  auto enrolled = auth_->gateway_key("SHA256:amy");
  ASSERT_TRUE(enrolled);
  EXPECT_TRUE(enrolled->totp_enrolled);
  EXPECT_FALSE(enrolled->totp_enrollment_required);
  auto local = auth_->gateway_key("SHA256:lou");  // requester in the store
  ASSERT_TRUE(local);
  EXPECT_FALSE(local->totp_enrolled || local->totp_enrollment_required);
}

TEST_F(KeyLoginTest, LocalAccountLogsInBesideADirectoryThatIsDown) {
  user_with_key("rescue", "local");
  dir_.down = true;
  LoginRequest r;
  r.user = "rescue";
  r.password = Secret::copy_of(std::string_view("rescue-password-1"));
  r.source = "127.0.0.1";
  auto login = auth_->login(r);
  ASSERT_TRUE(login) << login.error().message;
  EXPECT_EQ(login->roles, std::vector<std::string>{"requester"});
  EXPECT_EQ(dir_.authentications, 0);
  // A name without a local row still goes to the directory, which cannot answer.
  r.user = "amy";
  auto ldap_login = auth_->login(r);
  ASSERT_FALSE(ldap_login);
  EXPECT_EQ(ldap_login.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(dir_.authentications, 1);
}

}  // namespace
}  // namespace sekisho::broker
