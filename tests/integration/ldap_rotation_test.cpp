// DirectoryRotationConnector against a real slapd (tests/harness/slapd.sh): a self-change by RFC
// 3062 Password Modify, proved by the connector's own bind and by the real `ldapwhoami`; the
// directory's ppolicy refusing a password; a certificate from another CA; a reset as the
// reconcile account (cn=sekisho-rotate, which may only write userPassword); the connection cut at
// every step of a change.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "ldap/password_rotation.hpp"
#include "tests/integration/ldap_test_harness.hpp"
#include "tests/integration/tls_cutting_proxy.hpp"

namespace sekisho::ldap {
namespace {

namespace fs = std::filesystem;
using rotation::ChangeOutcome;
using rotation::LoginOutcome;
using testing::Env;

constexpr char kBackupDn[] = "uid=svc-backup,ou=services,dc=example,dc=com";
// Test passwords from tests/data/ldap/people.ldif; never printed (Secret has no printer).
constexpr char kBackupPassword[] = "backup-Pw-97";
constexpr char kRotatePassword[] = "rotate-Pw-98";
constexpr char kServicePassword[] = "svc-Secret-7f3a";

Secret secret(std::string_view text) { return Secret::copy_of(text); }

using rotation::to_string;

class LdapRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::adopt_orphans();
    dir_ = testing::make_temp_dir("sekisho-slapd-rot");
    ASSERT_FALSE(dir_.empty());
    std::string out;
    const int rc =
        testing::run_command(testing::owner_env() + "bash " + testing::quote(SLAPD_HARNESS) +
                                 " start " + testing::quote(dir_ / "slapd"),
                             &out);
    env_ = testing::parse_env(out);
    ASSERT_EQ(rc, 0) << "slapd harness failed; see " << (dir_ / "slapd");
    ASSERT_FALSE(env_["SLAPD_PID"].empty());
  }

  void TearDown() override {
    if (!env_["SLAPD_PID"].empty()) {
      testing::run_command(
          "bash " + testing::quote(SLAPD_HARNESS) + " stop " + testing::quote(dir_ / "slapd"),
          nullptr);
      testing::kill_and_reap(env_["SLAPD_PID"]);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // svc-backup by DN template, with the reconcile account configured.
  DirectoryAccount account() {
    DirectoryAccount a;
    a.url = env_["SLAPD_LDAPS_URL"];
    a.ca_file = env_["SLAPD_CA"];
    a.flavour = DirectoryFlavour::kOpenLdap;
    a.dn_template = "uid={account},ou=services,dc=example,dc=com";
    a.reconcile_dn = env_["SLAPD_ROTATE_DN"];
    a.reconcile_password = secret(kRotatePassword);
    a.timeout = std::chrono::seconds(5);
    return a;
  }

  // svc-backup found by a search as the gateway's service account.
  DirectoryAccount searched_account() {
    DirectoryAccount a = account();
    a.dn_template.clear();
    a.search_base = env_["SLAPD_BASE"];
    a.search_bind_dn = env_["SLAPD_BIND_DN"];
    a.search_bind_password = secret(kServicePassword);
    return a;
  }

  // A connector whose lookup builds a fresh account with `make` (Secrets are move-only).
  DirectoryRotationConnector connector(std::function<DirectoryAccount()> make) {
    return DirectoryRotationConnector(
        [make](const rotation::Target& t) -> Result<DirectoryAccount> {
          if (t.host != "corp") return fail(ErrorCode::kNotFound, "no directory " + t.host);
          return make();
        });
  }
  DirectoryRotationConnector connector() {
    return connector([this] { return account(); });
  }

  // The real `ldapwhoami` as `dn` with `password`, read from a 0600 file (-y), never argv.
  int ldapwhoami(const std::string& dn, const std::string& password, std::string* out) {
    const fs::path file = dir_ / "whoami.pw";
    {
      std::ofstream f(file, std::ios::trunc);
      fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
      f << password;  // no newline: -y sends the file's bytes as they are
    }
    const int rc = testing::run_command(
        "LDAPTLS_CACERT=" + testing::quote(env_["SLAPD_CA"]) +
            " ldapwhoami -x -o nettimeout=5 -H " + testing::quote(env_["SLAPD_LDAPS_URL"]) +
            " -D " + testing::quote(dn) + " -y " + testing::quote(file.string()) + " 2>&1",
        out);
    fs::remove(file);
    return rc;
  }

  // Runs an LDIF change as the root DN (test set-up only, e.g. a stricter ppolicy).
  void modify_as_root(const std::string& ldif) {
    const fs::path file = dir_ / "change.ldif";
    std::ofstream(file) << ldif;
    std::string out;
    ASSERT_EQ(testing::run_command("ldapmodify -x -H " + testing::quote(env_["SLAPD_URL"]) +
                                       " -D " + testing::quote(env_["SLAPD_ROOT_DN"]) + " -y " +
                                       testing::quote(env_["SLAPD_ROOT_PW_FILE"]) + " -f " +
                                       testing::quote(file.string()) + " 2>&1",
                                   &out),
              0)
        << out;
  }

  const rotation::Target target_{"corp", "svc-backup", "password"};
  fs::path dir_;
  Env env_;
};

TEST_F(LdapRotationTest, SelfChangeTakesTheNewPasswordAndRefusesTheOld) {
  auto c = connector();
  const std::string next = "rotated-Pw-1a2b3c4d5e6f7g8h";
  auto r = c.change(target_, secret(kBackupPassword), secret(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << to_string(r.outcome) << ": " << r.message;

  auto fresh = c.try_login(target_, secret(next));
  EXPECT_EQ(fresh.outcome, LoginOutcome::kAccepted)
      << to_string(fresh.outcome) << ": " << fresh.message;
  auto old = c.try_login(target_, secret(kBackupPassword));
  EXPECT_EQ(old.outcome, LoginOutcome::kRefused) << to_string(old.outcome) << ": " << old.message;
  EXPECT_NE(old.message.find("Invalid credentials"), std::string::npos) << old.message;

  std::string out;
  EXPECT_EQ(ldapwhoami(kBackupDn, next, &out), 0) << out;
  EXPECT_NE(out.find(std::string("dn:") + kBackupDn), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(ldapwhoami(kBackupDn, kBackupPassword, &out), 49) << out;
  EXPECT_NE(out.find("Invalid credentials"), std::string::npos) << out;

  // The change went as the account itself (self-change), not as the reconcile account.
  const std::string log = [&] {
    std::ifstream in(env_["SLAPD_LOG"]);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  EXPECT_NE(log.find("PASSMOD id=\"" + std::string(kBackupDn) + "\" old new"), std::string::npos);
  EXPECT_EQ(log.find("BIND dn=\"" + env_["SLAPD_ROTATE_DN"] + "\""), std::string::npos);
}

TEST_F(LdapRotationTest, AccountFoundBySearchAsTheServiceAccount) {
  auto c = connector([this] { return searched_account(); });
  const std::string next = "rotated-Pw-search-0123456789";
  auto r = c.change(target_, secret(kBackupPassword), secret(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << to_string(r.outcome) << ": " << r.message;
  std::string out;
  EXPECT_EQ(ldapwhoami(kBackupDn, next, &out), 0) << out;

  // Unknown and injected names match no entry: nothing to change, nothing logs in.
  for (const char* who : {"nobody", "*", "svc-backup)(uid=*"}) {
    const rotation::Target t{"corp", who, "password"};
    auto u = c.change(t, secret(next), secret("other-Pw-0123456789abc"));
    EXPECT_EQ(u.outcome, ChangeOutcome::kRefusedOld) << who << ": " << to_string(u.outcome);
    EXPECT_NE(u.message.find("no entry"), std::string::npos) << u.message;
    EXPECT_EQ(c.try_login(t, secret(next)).outcome, LoginOutcome::kRefused) << who;
  }
  EXPECT_EQ(ldapwhoami(kBackupDn, next, &out), 0) << out;

  // A refused search account says nothing about svc-backup's password: unreachable, not refused
  // (which would send the engine to a reset).
  auto blind = connector([this] {
    DirectoryAccount a = searched_account();
    a.search_bind_password = secret("not-the-service-password");
    return a;
  });
  auto b = blind.change(target_, secret(next), secret("other-Pw-0123456789abc"));
  EXPECT_EQ(b.outcome, ChangeOutcome::kUnreachable) << to_string(b.outcome) << ": " << b.message;
  EXPECT_EQ(blind.try_login(target_, secret(next)).outcome, LoginOutcome::kUnreachable);
  EXPECT_EQ(ldapwhoami(kBackupDn, next, &out), 0) << out;
}

TEST_F(LdapRotationTest, PolicyRejectionKeepsTheOldPasswordAndQuotesTheServer) {
  modify_as_root(
      "dn: cn=default,ou=policies,dc=example,dc=com\nchangetype: modify\n"
      "replace: pwdMinLength\npwdMinLength: 12\n-\n"
      "replace: pwdCheckQuality\npwdCheckQuality: 2\n-\n"
      "replace: pwdInHistory\npwdInHistory: 3\n");
  auto c = connector();
  auto shorter = c.change(target_, secret(kBackupPassword), secret("short-1"));
  EXPECT_EQ(shorter.outcome, ChangeOutcome::kPasswordRejected)
      << to_string(shorter.outcome) << ": " << shorter.message;
  EXPECT_NE(shorter.message.find("Password fails quality checking policy"), std::string::npos)
      << shorter.message;
  auto same = c.change(target_, secret(kBackupPassword), secret(kBackupPassword));
  EXPECT_EQ(same.outcome, ChangeOutcome::kPasswordRejected)
      << to_string(same.outcome) << ": " << same.message;
  EXPECT_NE(same.message.find("Password is not being changed from existing value"),
            std::string::npos)
      << same.message;
  EXPECT_EQ(same.message.find(kBackupPassword), std::string::npos);
  EXPECT_EQ(same.message.find('\n'), std::string::npos);

  EXPECT_EQ(c.try_login(target_, secret(kBackupPassword)).outcome, LoginOutcome::kAccepted);
  std::string out;
  EXPECT_EQ(ldapwhoami(kBackupDn, kBackupPassword, &out), 0) << out;
}

TEST_F(LdapRotationTest, CertificateFromAnotherCaIsAHostKeyMismatchAndNothingIsSent) {
  auto c = connector([this] {
    DirectoryAccount a = account();
    a.ca_file = env_["SLAPD_OTHER_CA"];
    return a;
  });
  auto r = c.change(target_, secret(kBackupPassword), secret("rotated-Pw-never-applied-0001"));
  EXPECT_EQ(r.outcome, ChangeOutcome::kHostKeyMismatch)
      << to_string(r.outcome) << ": " << r.message;
  EXPECT_NE(r.message.find("certificate"), std::string::npos) << r.message;
  auto reset = c.reset(target_, secret("rotated-Pw-never-applied-0002"));
  EXPECT_EQ(reset.outcome, ChangeOutcome::kHostKeyMismatch) << to_string(reset.outcome);
  auto login = c.try_login(target_, secret(kBackupPassword));
  EXPECT_EQ(login.outcome, LoginOutcome::kHostKeyMismatch) << to_string(login.outcome);

  // No bind reached the server over the untrusted connections; the password is unchanged.
  std::ifstream in(env_["SLAPD_LOG"]);
  const std::string log((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(log.find("BIND dn=\"" + std::string(kBackupDn) + "\""), std::string::npos);
  EXPECT_EQ(log.find("BIND dn=\"" + env_["SLAPD_ROTATE_DN"] + "\""), std::string::npos);
  EXPECT_EQ(log.find("PASSMOD"), std::string::npos);
  std::string out;
  EXPECT_EQ(ldapwhoami(kBackupDn, kBackupPassword, &out), 0) << out;
}

TEST_F(LdapRotationTest, ResetAsTheReconcileAccount) {
  auto c = connector();
  const std::string next = "reset-Pw-9z8y7x6w5v4u3t2s";
  auto r = c.reset(target_, secret(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << to_string(r.outcome) << ": " << r.message;
  EXPECT_EQ(c.try_login(target_, secret(next)).outcome, LoginOutcome::kAccepted);
  EXPECT_EQ(c.try_login(target_, secret(kBackupPassword)).outcome, LoginOutcome::kRefused);
  std::string out;
  EXPECT_EQ(ldapwhoami(kBackupDn, next, &out), 0) << out;

  // Without a reconcile account, or with a wrong password for it, nothing is reset.
  auto none = connector([this] {
    DirectoryAccount a = account();
    a.reconcile_dn.clear();
    return a;
  });
  auto n = none.reset(target_, secret("reset-Pw-never-applied-0001"));
  EXPECT_EQ(n.outcome, ChangeOutcome::kRefusedOld) << to_string(n.outcome) << ": " << n.message;
  auto wrong = connector([this] {
    DirectoryAccount a = account();
    a.reconcile_password = secret("not-the-rotate-password");
    return a;
  });
  auto w = wrong.reset(target_, secret("reset-Pw-never-applied-0002"));
  EXPECT_EQ(w.outcome, ChangeOutcome::kRefusedOld) << to_string(w.outcome) << ": " << w.message;
  // The service account may read everything but not write userPassword: a refusal, not a reset.
  auto reader = connector([this] {
    DirectoryAccount a = account();
    a.reconcile_dn = env_["SLAPD_BIND_DN"];
    a.reconcile_password = secret(kServicePassword);
    return a;
  });
  auto rd = reader.reset(target_, secret("reset-Pw-never-applied-0003"));
  EXPECT_EQ(rd.outcome, ChangeOutcome::kRefusedOld) << to_string(rd.outcome) << ": " << rd.message;
  EXPECT_EQ(ldapwhoami(kBackupDn, next, &out), 0) << out;
}

TEST_F(LdapRotationTest, WrongCurrentPasswordEmptySecretAndDownServer) {
  auto c = connector();
  auto r = c.change(target_, secret("not-the-current-one"), secret("rotated-Pw-never-0001"));
  EXPECT_EQ(r.outcome, ChangeOutcome::kRefusedOld) << to_string(r.outcome) << ": " << r.message;
  EXPECT_EQ(r.message.find("not-the-current-one"), std::string::npos);
  // An empty simple bind would be anonymous: refused without asking the server.
  EXPECT_EQ(c.try_login(target_, Secret()).outcome, LoginOutcome::kRefused);
  auto unknown_host = c.try_login({"elsewhere", "svc-backup", "password"}, secret(kBackupPassword));
  EXPECT_EQ(unknown_host.outcome, LoginOutcome::kUnreachable);

  testing::run_command(
      "bash " + testing::quote(SLAPD_HARNESS) + " stop " + testing::quote(dir_ / "slapd"), nullptr);
  testing::kill_and_reap(env_["SLAPD_PID"]);
  env_["SLAPD_PID"].clear();
  auto down = c.change(target_, secret(kBackupPassword), secret("rotated-Pw-never-0002"));
  EXPECT_EQ(down.outcome, ChangeOutcome::kUnreachable)
      << to_string(down.outcome) << ": " << down.message;
  EXPECT_EQ(c.try_login(target_, secret(kBackupPassword)).outcome, LoginOutcome::kUnreachable);
}

// The connection to the real slapd is cut before each of the client's TLS records in turn (the
// handshake, the bind, the change, the unbind). Whatever the step, the outcome tells the truth:
// never a certificate problem (the certificate is fine), kUnknown only when the change was sent,
// and the directory then accepts exactly one of the two passwords.
TEST_F(LdapRotationTest, ConnectionCutAtEveryStepNeverMisreportsTheOutcome) {
  testing::TlsCuttingProxy proxy(std::stoi(env_["SLAPD_TLS_PORT"]));
  ASSERT_NE(proxy.port(), 0);
  auto through_proxy = connector([&] {
    DirectoryAccount a = account();
    a.url = "ldaps://127.0.0.1:" + std::to_string(proxy.port());
    return a;
  });
  auto direct = connector();
  bool saw_unknown = false;
  bool saw_changed = false;
  for (int k = 1; k <= 8 && !saw_changed; ++k) {
    const std::string next = "rotated-Pw-cut-" + std::to_string(k) + "-0123456789";
    proxy.arm(k);
    auto r = through_proxy.change(target_, secret(kBackupPassword), secret(next));
    const bool new_ok = direct.try_login(target_, secret(next)).outcome == LoginOutcome::kAccepted;
    const bool old_ok =
        direct.try_login(target_, secret(kBackupPassword)).outcome == LoginOutcome::kAccepted;
    const std::string step = "cut before client record " + std::to_string(k) + ": " +
                             to_string(r.outcome) + ": " + r.message;
    std::cerr << step << "\n";
    SCOPED_TRACE(step);
    switch (r.outcome) {
      case ChangeOutcome::kChanged:  // possibly cut after the answer (at the unbind)
        EXPECT_TRUE(new_ok && !old_ok);
        saw_changed = true;
        break;
      case ChangeOutcome::kUnreachable:
        EXPECT_TRUE(old_ok && !new_ok);
        break;
      case ChangeOutcome::kUnknown:
        EXPECT_TRUE(proxy.cut());
        EXPECT_NE(new_ok, old_ok);
        saw_unknown = true;
        break;
      default:
        ADD_FAILURE() << "unexpected outcome";
    }
    if (new_ok) {  // back to the vaulted password for the next round
      ASSERT_EQ(direct.reset(target_, secret(kBackupPassword)).outcome, ChangeOutcome::kChanged);
    }
  }
  EXPECT_TRUE(saw_unknown);
  EXPECT_TRUE(saw_changed);
}

}  // namespace
}  // namespace sekisho::ldap
