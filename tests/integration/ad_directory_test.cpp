// LdapDirectory against a real Active Directory: a Samba 4 DC started by
// tests/harness/samba_ad.sh from a template provisioned once per test run (ctest fixture).
#include <gtest/gtest.h>

#include <filesystem>

#include "ldap/ldap_directory.hpp"
#include "tests/integration/ldap_test_harness.hpp"

namespace sekisho::ldap {
namespace {

namespace fs = std::filesystem;
using testing::Env;

constexpr char kBase[] = "DC=sekisho,DC=test";
constexpr char kApprovers[] = "CN=pam-approvers,CN=Users,DC=sekisho,DC=test";
constexpr char kRequesters[] = "CN=pam-requesters,CN=Users,DC=sekisho,DC=test";

// Test passwords set by samba_ad.sh; never printed (Secret has no printer).
Secret password_of(const std::string& user) {
  static const std::map<std::string, std::string> kPasswords = {{"adalice", "Alice-Passw0rd-ad2"},
                                                                {"adbob", "Bob-Passw0rd-ad3"},
                                                                {"addisabled", "Dis-Passw0rd-ad4"}};
  return Secret::copy_of(std::string_view(kPasswords.at(user)));
}

// The template comes from the ctest fixture (SAMBA_TEMPLATE_DIR); run directly, the test
// provisions one itself into that directory.
fs::path template_dir() {
  const char* dir = std::getenv("SAMBA_TEMPLATE_DIR");
  return dir != nullptr ? fs::path(dir) : fs::temp_directory_path() / "sekisho-samba-template";
}

class AdDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::adopt_orphans();
    const fs::path tdir = template_dir();
    if (!fs::exists(tdir / "private" / "sam.ldb")) {
      std::string out;
      ASSERT_EQ(
          testing::run_command(
              "bash " + testing::quote(SAMBA_HARNESS) + " template " + testing::quote(tdir), &out),
          0)
          << "samba template provisioning failed in " << tdir;
      std::cerr << out;
    }
    dir_ = testing::make_temp_dir("sekisho-samba");
    ASSERT_FALSE(dir_.empty());
    std::string out;
    const int rc = testing::run_command(
        testing::owner_env() + "bash " + testing::quote(SAMBA_HARNESS) + " start " +
            testing::quote(tdir) + " " + testing::quote(dir_ / "dc"),
        &out);
    env_ = testing::parse_env(out);
    ASSERT_EQ(rc, 0) << "samba harness failed; see " << (dir_ / "dc");
    std::cerr << "samba DC ready in " << env_["SAMBA_START_MS"] << " ms\n";
  }

  void TearDown() override {
    if (!env_["SAMBA_PID"].empty()) {
      testing::run_command(
          "bash " + testing::quote(SAMBA_HARNESS) + " stop " + testing::quote(dir_ / "dc"),
          nullptr);
      testing::kill_and_reap(env_["SAMBA_PID"]);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<LdapDirectory> directory() {
    LdapConfig c;
    c.url = env_["SAMBA_URL"];
    c.ca_file = env_["SAMBA_CA"];
    c.bind_dn = env_["SAMBA_BIND_DN"];
    c.bind_password_file = env_["SAMBA_BIND_PW_FILE"];
    c.user_base = kBase;
    c.user_filter = "(&(objectClass=user)(objectCategory=person)(sAMAccountName={user}))";
    c.login_attribute = "sAMAccountName";
    c.group_base = std::string("CN=Users,") + kBase;
    c.active_directory = true;
    c.role_groups = {{"approver", {kApprovers}}, {"requester", {kRequesters}}};
    auto d = LdapDirectory::create(c);
    EXPECT_TRUE(d) << d.error().message;
    return d ? std::move(*d) : nullptr;
  }

  fs::path dir_;
  Env env_;
};

TEST_F(AdDirectoryTest, UpnLoginMapsRolesFromGroups) {
  auto d = directory();
  ASSERT_TRUE(d);
  auto alice = d->authenticate("adalice@sekisho.test", password_of("adalice"));
  ASSERT_TRUE(alice) << alice.error().message;
  EXPECT_EQ(alice->name, "adalice");  // the sAMAccountName, whatever form was typed
  EXPECT_EQ(alice->dn, std::string("CN=Alice Ad,CN=Users,") + kBase);
  EXPECT_EQ(alice->status, StaffStatus::kActive);
  EXPECT_EQ(alice->roles, (std::vector<std::string>{"approver", "requester"}));
  // UPNs compare case-insensitively in AD.
  auto upper = d->authenticate("ADALICE@SEKISHO.TEST", password_of("adalice"));
  ASSERT_TRUE(upper) << upper.error().message;
  EXPECT_EQ(upper->name, "adalice");
}

TEST_F(AdDirectoryTest, SamAccountNameLoginWorksAndWrongPasswordIsRefused) {
  auto d = directory();
  ASSERT_TRUE(d);
  auto bob = d->authenticate("adbob", password_of("adbob"));
  ASSERT_TRUE(bob) << bob.error().message;
  EXPECT_EQ(bob->name, "adbob");
  EXPECT_EQ(bob->roles, (std::vector<std::string>{"requester"}));
  auto wrong = d->authenticate("adbob", password_of("adalice"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthenticated);
  auto injected = d->authenticate("*)(sAMAccountName=*", password_of("adbob"));
  ASSERT_FALSE(injected);
  EXPECT_EQ(injected.error().code, ErrorCode::kUnauthenticated);
  auto empty = d->authenticate("adbob", Secret());
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(AdDirectoryTest, DisabledAccountIsRefused) {
  auto d = directory();
  ASSERT_TRUE(d);
  auto r = d->authenticate("addisabled", password_of("addisabled"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  auto upn = d->authenticate("addisabled@sekisho.test", password_of("addisabled"));
  ASSERT_FALSE(upn);
  EXPECT_EQ(upn.error().code, ErrorCode::kPermissionDenied);
  auto l = d->lookup("addisabled");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(l->status, StaffStatus::kDisabled);
}

TEST_F(AdDirectoryTest, GroupMembersUseSamAccountName) {
  auto d = directory();
  ASSERT_TRUE(d);
  auto m = d->group_members(kApprovers);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, (std::vector<std::string>{"adalice", "addisabled"}));
}

}  // namespace
}  // namespace sekisho::ldap
