// DirectoryRotationConnector against a real Active Directory: a Samba 4 DC started by
// tests/harness/samba_ad.sh from the template provisioned once per test run (ctest fixture). The
// domain account svc-backup changes its own unicodePwd (delete old + add new), adrotate (Account
// Operators) resets it, and the Password Settings Object on svc-backup (minimum length 12)
// refuses a short one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ldap/password_rotation.hpp"
#include "tests/integration/ldap_test_harness.hpp"

namespace sekisho::ldap {
namespace {

namespace fs = std::filesystem;
using rotation::ChangeOutcome;
using rotation::LoginOutcome;
using testing::Env;

constexpr char kBase[] = "DC=sekisho,DC=test";
constexpr char kBackupDn[] = "CN=svc-backup,CN=Users,DC=sekisho,DC=test";
// Not the default 127.10.0.1 of the directory tests: a DC of another build on this machine may
// hold that address's fixed ports.
constexpr char kDcAddress[] = "127.10.0.5";
// Test passwords set by samba_ad.sh; never printed (Secret has no printer).
constexpr char kBackupPassword[] = "Backup-Passw0rd-ad5";
constexpr char kRotatePassword[] = "Rotate-Passw0rd-ad6";
constexpr char kServicePassword[] = "Svc-Passw0rd-ad1";

Secret secret(std::string_view text) { return Secret::copy_of(text); }

fs::path template_dir() {
  const char* dir = std::getenv("SAMBA_TEMPLATE_DIR");
  return dir != nullptr ? fs::path(dir) : fs::temp_directory_path() / "sekisho-samba-template";
}

using rotation::to_string;

class AdRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::adopt_orphans();
    const fs::path tdir = template_dir();
    if (!fs::exists(tdir / "private" / "sam.ldb")) {
      ASSERT_EQ(testing::run_command("bash " + testing::quote(SAMBA_HARNESS) + " template " +
                                         testing::quote(tdir.string()),
                                     nullptr),
                0)
          << "samba template provisioning failed in " << tdir;
    }
    dir_ = testing::make_temp_dir("sekisho-samba-rot");
    ASSERT_FALSE(dir_.empty());
    std::string out;
    const int rc =
        testing::run_command(testing::owner_env() + "bash " + testing::quote(SAMBA_HARNESS) +
                                 " start " + testing::quote(tdir.string()) + " " +
                                 testing::quote((dir_ / "dc").string()) + " " + kDcAddress,
                             &out);
    env_ = testing::parse_env(out);
    ASSERT_EQ(rc, 0) << "samba harness failed; see " << (dir_ / "dc");
    std::cerr << "samba DC ready in " << env_["SAMBA_START_MS"] << " ms\n";
  }

  void TearDown() override {
    if (!env_["SAMBA_PID"].empty()) {
      testing::run_command("bash " + testing::quote(SAMBA_HARNESS) + " stop " +
                               testing::quote((dir_ / "dc").string()),
                           nullptr);
      testing::kill_and_reap(env_["SAMBA_PID"]);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // svc-backup, found by sAMAccountName as the gateway's service account; adrotate reconciles.
  DirectoryAccount account() {
    DirectoryAccount a;
    a.url = env_["SAMBA_URL"];
    a.ca_file = env_["SAMBA_CA"];
    a.flavour = DirectoryFlavour::kActiveDirectory;
    a.search_base = kBase;
    a.search_bind_dn = env_["SAMBA_BIND_DN"];
    a.search_bind_password = secret(kServicePassword);
    a.reconcile_dn = std::string("CN=adrotate,CN=Users,") + kBase;
    a.reconcile_password = secret(kRotatePassword);
    a.timeout = std::chrono::seconds(10);
    return a;
  }

  DirectoryRotationConnector connector(std::function<DirectoryAccount()> make) {
    return DirectoryRotationConnector(
        [make](const rotation::Target&) -> Result<DirectoryAccount> { return make(); });
  }
  DirectoryRotationConnector connector() {
    return connector([this] { return account(); });
  }

  // The real `ldapsearch` bound as `dn` reads that entry; the password is read from a 0600 file
  // (-y), never argv. (Samba does not implement ldapwhoami's Who-am-I operation.)
  int ldapsearch_as(const std::string& dn, const std::string& password, std::string* out) {
    const fs::path file = dir_ / "whoami.pw";
    {
      std::ofstream f(file, std::ios::trunc);
      fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
      f << password;
    }
    const int rc = testing::run_command(
        "LDAPTLS_CACERT=" + testing::quote(env_["SAMBA_CA"]) +
            " ldapsearch -LLL -x -o nettimeout=10 -H " + testing::quote(env_["SAMBA_URL"]) +
            " -D " + testing::quote(dn) + " -y " + testing::quote(file.string()) + " -b " +
            testing::quote(dn) + " -s base sAMAccountName 2>&1",
        out);
    fs::remove(file);
    return rc;
  }

  const rotation::Target target_{"corp", "svc-backup", "password"};
  fs::path dir_;
  Env env_;
};

TEST_F(AdRotationTest, SelfChangeOfUnicodePwdIsVerifiedByBind) {
  auto c = connector();
  const std::string next = "Rotated-Passw0rd-7Hq2Lm9Xw4Kd";
  auto r = c.change(target_, secret(kBackupPassword), secret(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << to_string(r.outcome) << ": " << r.message;
  EXPECT_NE(r.message.find(kBackupDn), std::string::npos) << r.message;

  EXPECT_EQ(c.try_login(target_, secret(next)).outcome, LoginOutcome::kAccepted);
  auto old = c.try_login(target_, secret(kBackupPassword));
  EXPECT_EQ(old.outcome, LoginOutcome::kRefused) << old.message;
  std::string out;
  EXPECT_EQ(ldapsearch_as(kBackupDn, next, &out), 0) << out;
  EXPECT_NE(out.find("sAMAccountName: svc-backup"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(ldapsearch_as(kBackupDn, kBackupPassword, &out), 49) << out;

  // A change with a stale vaulted password is refused at the bind: nothing changes.
  auto stale = c.change(target_, secret(kBackupPassword), secret("Rotated-Passw0rd-never-0001"));
  EXPECT_EQ(stale.outcome, ChangeOutcome::kRefusedOld) << stale.message;
  EXPECT_EQ(c.try_login(target_, secret(next)).outcome, LoginOutcome::kAccepted);
}

TEST_F(AdRotationTest, ResetByAnAccountOperator) {
  auto c = connector();
  const std::string next = "Reset-Passw0rd-3Vb8Nc1Zq6Tr";
  auto r = c.reset(target_, secret(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << to_string(r.outcome) << ": " << r.message;
  EXPECT_EQ(c.try_login(target_, secret(next)).outcome, LoginOutcome::kAccepted);
  EXPECT_EQ(c.try_login(target_, secret(kBackupPassword)).outcome, LoginOutcome::kRefused);
  std::string out;
  EXPECT_EQ(ldapsearch_as(kBackupDn, next, &out), 0) << out;

  // The search account has no right to reset: refused, and the password stays.
  auto plain = connector([this] {
    DirectoryAccount a = account();
    a.reconcile_dn = env_["SAMBA_BIND_DN"];
    a.reconcile_password = secret(kServicePassword);
    return a;
  });
  auto refused = plain.reset(target_, secret("Reset-Passw0rd-never-0001"));
  EXPECT_EQ(refused.outcome, ChangeOutcome::kRefusedOld)
      << to_string(refused.outcome) << ": " << refused.message;
  EXPECT_EQ(ldapsearch_as(kBackupDn, next, &out), 0) << out;
}

TEST_F(AdRotationTest, PasswordAgainstTheDomainPolicyIsRejectedAndTheOldOneStays) {
  auto c = connector();
  // svc-backup's Password Settings Object wants at least 12 characters.
  auto r = c.change(target_, secret(kBackupPassword), secret("Short-1"));
  EXPECT_EQ(r.outcome, ChangeOutcome::kPasswordRejected)
      << to_string(r.outcome) << ": " << r.message;
  EXPECT_NE(r.message.find("password policy"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("too short"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("0000052D"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find('\n'), std::string::npos);
  // An administrator reset is held to the same policy.
  auto reset = c.reset(target_, secret("Short-2"));
  EXPECT_EQ(reset.outcome, ChangeOutcome::kPasswordRejected)
      << to_string(reset.outcome) << ": " << reset.message;

  EXPECT_EQ(c.try_login(target_, secret(kBackupPassword)).outcome, LoginOutcome::kAccepted);
  std::string out;
  EXPECT_EQ(ldapsearch_as(kBackupDn, kBackupPassword, &out), 0) << out;
}

}  // namespace
}  // namespace sekisho::ldap
