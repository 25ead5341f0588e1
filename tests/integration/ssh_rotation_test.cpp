// Password rotation over SSH (broker/rotation/ssh_connector.hpp) against real OpenSSH sshd hosts
// started by tests/harness/sshd_host.sh (each with its own /etc), through this build's real
// sekisho-worker: chpasswd changes exactly one account on exactly one host, the new password logs
// in (the connector's fresh login and the real `ssh` client) and the old one does not; a chpasswd
// that refuses, a wrong pinned key, a host that is down, a refused login; a rotation account and a
// reconcile account through sudo; a host that only speaks keyboard-interactive.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "base/crypto.hpp"
#include "broker/rotation/ssh_connector.hpp"
#include "tests/harness/sshd_host.hpp"

namespace sekisho::broker {
namespace {

namespace fs = std::filesystem;
using rotation::ChangeOutcome;
using rotation::LoginOutcome;
using rotation::Target;
using namespace sekisho::testing;  // the harness: hosts, commands, files

// A fresh random password, never printed; with a ':' (chpasswd splits at the first one only).
std::string new_password() { return "Rt:" + hex_encode(random_secret(12).bytes()) + "-x9"; }

// One account the connector logs in as (the rotation or reconcile account).
struct LoginSpec {
  std::string account;
  std::string kind;  // "password" or "key"
  std::string secret;
};

// The host's /etc/shadow, one entry per account (a failure when it cannot be read: an empty
// map would compare equal to another empty one).
std::map<std::string, std::string> shadow_of(const SshdHost& host) {
  std::map<std::string, std::string> out;
  const auto r = host.exec("cat /etc/shadow");
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) out[line.substr(0, line.find(':'))] = line;
  if (r.status != 0 || out.count("root") == 0) ADD_FAILURE() << "cannot read the host's shadow";
  return out;
}

// The accounts whose shadow entry differs between `before` and `after`.
std::vector<std::string> changed_accounts(const std::map<std::string, std::string>& before,
                                          const std::map<std::string, std::string>& after) {
  std::vector<std::string> out;
  for (const auto& [name, line] : after) {
    const auto it = before.find(name);
    if (it == before.end() || it->second != line) out.push_back(name);
  }
  for (const auto& [name, line] : before) {
    if (after.find(name) == after.end()) out.push_back(name);
  }
  return out;
}

const std::vector<std::string> kNone;  // no account changed (only names are printed: no hash)

class SshRotation : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = sekisho::testing::make_host_temp_dir("sekisho-rotation");
    ASSERT_FALSE(dir_.empty());
    data_ = dir_ / "data";
    fs::create_directories(data_);
    web01_ = start_host("web01");
    ASSERT_TRUE(web01_.has_value());
    ASSERT_TRUE(web01_->set_password("root", root_old_));
  }
  void TearDown() override {
    for (auto* host : {&web01_, &web02_}) {
      if (*host) (*host)->stop();
      host->reset();
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // A host with the accounts root, alice, ops and recon (may run chpasswd through sudo
  // without a password) and bob (may not), each with its own password.
  std::optional<SshdHost> start_host(const std::string& name) {
    std::string error;
    auto host = SshdHost::start(dir_ / name, name, {"alice", "ops", "recon", "bob"}, &error);
    EXPECT_TRUE(host.has_value()) << "host did not start: " << error;
    if (!host) return host;
    const auto r = host->exec(
        "printf '%s\\n' 'ops ALL=(root) NOPASSWD: /usr/sbin/chpasswd' "
        "'recon ALL=(root) NOPASSWD: /usr/sbin/chpasswd' >/etc/sudoers.d/sekisho-test && "
        "chmod 0440 /etc/sudoers.d/sekisho-test && echo '127.0.1.1 " +
        name + "' >>/etc/hosts");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(host->set_password("ops", ops_pw_) && host->set_password("recon", recon_pw_) &&
                host->set_password("bob", bob_pw_));
    return host;
  }

  // The connector as the core builds it, with a lookup that answers for web01 and web02.
  SshConnector connector(std::optional<LoginSpec> rotation_login = std::nullopt,
                         std::optional<LoginSpec> reconcile_login = std::nullopt,
                         std::string pinned = "") {
    auto lookup = [this, rotation_login, reconcile_login,
                   pinned](const Target& t) -> Result<SshRotationHost> {
      const auto& host = t.host == "web02" ? web02_ : web01_;
      if (!host) return fail(ErrorCode::kNotFound, "no host " + t.host);
      SshRotationHost h;
      h.address = "127.0.0.1";
      h.port = port_override_ != 0 ? port_override_ : host->port();
      h.pinned_host_key =
          pinned.empty() ? type_and_base64(host->dir() / "ssh_host_ed25519_key.pub") : pinned;
      const auto make = [](const LoginSpec& l) {
        return SshRotationLogin{l.account, l.kind, Secret::copy_of(l.secret)};
      };
      if (rotation_login) h.rotation = make(*rotation_login);
      if (reconcile_login) h.reconcile = make(*reconcile_login);
      h.verify_with_su = verify_with_su_;
      return h;
    };
    return SshConnector({{"nobody", data_, SEKISHO_WORKER}, std::chrono::seconds(10)}, lookup);
  }

  LoginOutcome login(SshConnector& c, const std::string& account, const std::string& password,
                     const std::string& host = "web01") {
    return c.try_login({host, account, "password"}, Secret::copy_of(password)).outcome;
  }

  // Whether the real OpenSSH client logs in to `host` as `user` with `password` (password
  // authentication only; the password from a 0600 file through SSH_ASKPASS, never a command
  // line; the host key checked against the host's key file).
  bool ssh_client_logs_in(const SshdHost& host, const std::string& user,
                          const std::string& password) {
    const fs::path pw = dir_ / "client-password", ask = dir_ / "askpass.sh",
                   known = dir_ / "known_hosts";
    const int fd = ::open(pw.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const std::string line = password + "\n";
    const bool wrote = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    std::ofstream(ask) << "#!/bin/sh\ncat " << shell_quote(pw) << "\n";
    fs::permissions(ask, fs::perms::owner_all);
    std::ofstream(known) << "[127.0.0.1]:" << host.port() << " "
                         << type_and_base64(host.dir() / "ssh_host_ed25519_key.pub") << "\n";
    const auto r = run_command(
        "SSH_ASKPASS=" + shell_quote(ask) +
        " SSH_ASKPASS_REQUIRE=force timeout 30 ssh -F /dev/null" + " -p " +
        std::to_string(host.port()) +
        " -o PreferredAuthentications=password -o PubkeyAuthentication=no" +
        " -o NumberOfPasswordPrompts=1 -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" +
        shell_quote(known) + " -o ConnectTimeout=10 " + user +
        "@127.0.0.1 id -un </dev/null 2>/dev/null");
    fs::remove(pw);
    return wrote && r.status == 0 && r.out == user + "\n";
  }

  fs::path dir_, data_;
  std::optional<SshdHost> web01_, web02_;
  std::uint16_t port_override_ = 0;
  bool verify_with_su_ = false;
  const std::string root_old_ = "Old-" + hex_encode(random_secret(10).bytes());
  const std::string ops_pw_ = "Ops-" + hex_encode(random_secret(10).bytes());
  const std::string recon_pw_ = "Rec-" + hex_encode(random_secret(10).bytes());
  const std::string bob_pw_ = "Bob-" + hex_encode(random_secret(10).bytes());
};

TEST_F(SshRotation, ChangeSetsOnlyThatAccountOnThatHost) {
  web02_ = start_host("web02");
  ASSERT_TRUE(web02_.has_value());
  const std::string web02_root = "W2-" + hex_encode(random_secret(10).bytes());
  ASSERT_TRUE(web02_->set_password("root", web02_root));
  const auto real_before = file_sha256("/etc/shadow");
  const auto web01_before = shadow_of(*web01_);
  const auto web02_before = shadow_of(*web02_);
  ASSERT_FALSE(web01_before.empty());

  auto c = connector();
  const std::string next = new_password();
  const auto r =
      c.change({"web01", "root", "password"}, Secret::copy_of(root_old_), Secret::copy_of(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << r.message;

  EXPECT_EQ(changed_accounts(web01_before, shadow_of(*web01_)), std::vector<std::string>{"root"});
  EXPECT_EQ(changed_accounts(web02_before, shadow_of(*web02_)), kNone) << "another host changed";
  EXPECT_EQ(file_sha256("/etc/shadow"), real_before) << "the real /etc/shadow changed";

  EXPECT_EQ(login(c, "root", next), LoginOutcome::kAccepted);
  EXPECT_EQ(login(c, "root", root_old_), LoginOutcome::kRefused);
  EXPECT_EQ(login(c, "root", web02_root, "web02"), LoginOutcome::kAccepted);
  EXPECT_TRUE(ssh_client_logs_in(*web01_, "root", next)) << "the real ssh client, new password";
  EXPECT_FALSE(ssh_client_logs_in(*web01_, "root", root_old_)) << "the old password";

  // What the host logged (sshd -e writes DIR/sshd.log): the logins, never a password.
  const std::string log = read_text(web01_->dir() / "sshd.log");
  EXPECT_NE(log.find("Accepted password for root"), std::string::npos) << log;
  EXPECT_EQ(log.find(next.substr(3)), std::string::npos);
}

TEST_F(SshRotation, ChpasswdThatRefusesKeepsTheOldPasswordAndSaysWhy) {
  // A chpasswd earlier in root's PATH inside this host only (its own /etc: pam_env reads
  // /etc/environment), refusing as pam_pwquality words it and exiting 1.
  const auto setup = web01_->exec(
      "mkdir -p /etc/sekisho-test-bin && printf '%s\\n' '#!/bin/sh' 'cat >/dev/null' "
      "'echo \"BAD PASSWORD: it is based on a dictionary word\" >&2' "
      "'echo \"chpasswd: (line 1) password not changed\" >&2' 'exit 1' "
      ">/etc/sekisho-test-bin/chpasswd && chmod 0755 /etc/sekisho-test-bin/chpasswd && "
      "echo 'PATH=/etc/sekisho-test-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
      "/bin' >>/etc/environment");
  ASSERT_EQ(setup.status, 0) << setup.out;
  const auto before = shadow_of(*web01_);
  auto c = connector();
  const std::string next = new_password();
  const auto r =
      c.change({"web01", "root", "password"}, Secret::copy_of(root_old_), Secret::copy_of(next));
  EXPECT_EQ(r.outcome, ChangeOutcome::kPasswordRejected) << r.message;
  EXPECT_EQ(r.message,
            "chpasswd exited 1: BAD PASSWORD: it is based on a dictionary word chpasswd: (line 1) "
            "password not changed");
  EXPECT_EQ(changed_accounts(before, shadow_of(*web01_)), kNone);
  EXPECT_EQ(login(c, "root", root_old_), LoginOutcome::kAccepted);
  EXPECT_TRUE(ssh_client_logs_in(*web01_, "root", root_old_));
}

TEST_F(SshRotation, WrongPinnedKeyIsAMismatchAndNothingIsSent) {
  const fs::path other = dir_ / "other_key";
  ASSERT_EQ(
      run_command("ssh-keygen -q -t ed25519 -N '' -f " + shell_quote(other) + " </dev/null").status,
      0);
  const auto before = shadow_of(*web01_);
  auto c = connector(std::nullopt, std::nullopt, type_and_base64(other.string() + ".pub"));
  const auto r = c.change({"web01", "root", "password"}, Secret::copy_of(root_old_),
                          Secret::copy_of(new_password()));
  EXPECT_EQ(r.outcome, ChangeOutcome::kHostKeyMismatch) << r.message;
  EXPECT_NE(r.message.find("not the one pinned"), std::string::npos) << r.message;
  EXPECT_EQ(c.try_login({"web01", "root", "password"}, Secret::copy_of(root_old_)).outcome,
            LoginOutcome::kHostKeyMismatch);
  EXPECT_EQ(changed_accounts(before, shadow_of(*web01_)), kNone);
  // Nothing was sent: the host saw no login attempt at all.
  const std::string log = read_text(web01_->dir() / "sshd.log");
  EXPECT_EQ(log.find("Accepted"), std::string::npos) << log;
  EXPECT_EQ(log.find("Failed"), std::string::npos) << log;
}

TEST_F(SshRotation, HostDownIsUnreachable) {
  const std::uint16_t port = web01_->port();
  web01_->stop();
  auto c = connector();
  port_override_ = port;
  const auto r = c.change({"web01", "root", "password"}, Secret::copy_of(root_old_),
                          Secret::copy_of(new_password()));
  EXPECT_EQ(r.outcome, ChangeOutcome::kUnreachable) << r.message;
  EXPECT_EQ(r.message.rfind("cannot reach 127.0.0.1:" + std::to_string(port) + ": ", 0), 0u)
      << r.message;
  EXPECT_EQ(login(c, "root", root_old_), LoginOutcome::kUnreachable);
}

TEST_F(SshRotation, WrongCurrentPasswordIsRefusedOld) {
  const auto before = shadow_of(*web01_);
  auto c = connector();
  const auto r = c.change({"web01", "root", "password"}, Secret::copy_of("not-" + root_old_),
                          Secret::copy_of(new_password()));
  EXPECT_EQ(r.outcome, ChangeOutcome::kRefusedOld) << r.message;
  EXPECT_EQ(changed_accounts(before, shadow_of(*web01_)), kNone);
}

TEST_F(SshRotation, RotationAccountChangesThroughSudo) {
  const auto before = shadow_of(*web01_);
  const std::string next = new_password();
  auto via_ops = connector(LoginSpec{"ops", "password", ops_pw_});
  // The account's own secret is not used: the rotation account logs in.
  const auto r = via_ops.change({"web01", "alice", "password"}, Secret::copy_of("unused"),
                                Secret::copy_of(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << r.message;
  EXPECT_EQ(changed_accounts(before, shadow_of(*web01_)), std::vector<std::string>{"alice"});
  EXPECT_EQ(login(via_ops, "alice", next), LoginOutcome::kAccepted);
  EXPECT_TRUE(ssh_client_logs_in(*web01_, "alice", next));

  // An account sudo does not let run chpasswd: refused in sudo's words, nothing changed.
  const auto mid = shadow_of(*web01_);
  auto via_bob = connector(LoginSpec{"bob", "password", bob_pw_});
  const auto refused = via_bob.change({"web01", "alice", "password"}, Secret::copy_of("unused"),
                                      Secret::copy_of(new_password()));
  EXPECT_EQ(refused.outcome, ChangeOutcome::kPasswordRejected) << refused.message;
  EXPECT_EQ(refused.message.rfind("sudo -n chpasswd exited 1: sudo: a password is required", 0), 0u)
      << refused.message;
  EXPECT_EQ(changed_accounts(mid, shadow_of(*web01_)), kNone);
}

TEST_F(SshRotation, ResetThroughTheReconcileAccount) {
  const auto before = shadow_of(*web01_);
  auto without = connector();
  const auto none = without.reset({"web01", "alice", "password"}, Secret::copy_of(new_password()));
  EXPECT_EQ(none.outcome, ChangeOutcome::kRefusedOld) << none.message;
  EXPECT_EQ(none.message, "no reconcile account is configured for web01");
  EXPECT_EQ(changed_accounts(before, shadow_of(*web01_)), kNone);

  const std::string next = new_password();
  auto c = connector(std::nullopt, LoginSpec{"recon", "password", recon_pw_});
  const auto r = c.reset({"web01", "alice", "password"}, Secret::copy_of(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << r.message;
  EXPECT_EQ(changed_accounts(before, shadow_of(*web01_)), std::vector<std::string>{"alice"});
  EXPECT_EQ(login(c, "alice", next), LoginOutcome::kAccepted);
}

TEST_F(SshRotation, RootKeyChangesRootOnAHostThatRefusesRootPasswords) {
  ASSERT_EQ(setenv("SSHD_HOST_EXTRA_CONFIG", "PermitRootLogin prohibit-password", 1), 0);
  web02_ = start_host("web02");
  unsetenv("SSHD_HOST_EXTRA_CONFIG");
  ASSERT_TRUE(web02_.has_value());
  const fs::path key = dir_ / "root_key";
  ASSERT_EQ(
      run_command("ssh-keygen -q -t ed25519 -N '' -f " + shell_quote(key) + " </dev/null").status,
      0);
  ASSERT_TRUE(web02_->authorize("root", read_text(key.string() + ".pub")));
  const auto before = shadow_of(*web02_);
  const std::string next = new_password();
  auto c = connector(LoginSpec{"root", "key", read_text(key)});
  const auto r =
      c.change({"web02", "root", "password"}, Secret::copy_of("unused"), Secret::copy_of(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << r.message;
  EXPECT_EQ(changed_accounts(before, shadow_of(*web02_)), std::vector<std::string>{"root"});
  // The host refuses every root password login, the new one too ...
  EXPECT_EQ(login(c, "root", next, "web02"), LoginOutcome::kRefused);
  // ... so the password is checked through su on a pty, logged in as the rotation account.
  verify_with_su_ = true;
  auto su = connector(LoginSpec{"ops", "password", ops_pw_});
  EXPECT_EQ(login(su, "root", next, "web02"), LoginOutcome::kAccepted);
  EXPECT_EQ(login(su, "root", "not-" + next, "web02"), LoginOutcome::kRefused);
  auto su_bad_login = connector(LoginSpec{"ops", "password", "not-" + ops_pw_});
  EXPECT_EQ(login(su_bad_login, "root", next, "web02"), LoginOutcome::kUnreachable)
      << "a refused rotation account says nothing of the password";
  EXPECT_EQ(read_text(web02_->dir() / "sshd.log").find(next.substr(3)), std::string::npos);
}

TEST_F(SshRotation, KeyboardInteractiveOnlyHost) {
  ASSERT_EQ(setenv("SSHD_HOST_EXTRA_CONFIG", "PasswordAuthentication no", 1), 0);
  web02_ = start_host("web02");
  unsetenv("SSHD_HOST_EXTRA_CONFIG");
  ASSERT_TRUE(web02_.has_value());
  ASSERT_TRUE(web02_->set_password("root", root_old_));
  auto c = connector();
  EXPECT_EQ(login(c, "root", root_old_, "web02"), LoginOutcome::kAccepted);
  EXPECT_EQ(login(c, "root", "not-" + root_old_, "web02"), LoginOutcome::kRefused);
  const std::string next = new_password();
  const auto r =
      c.change({"web02", "root", "password"}, Secret::copy_of(root_old_), Secret::copy_of(next));
  ASSERT_EQ(r.outcome, ChangeOutcome::kChanged) << r.message;
  EXPECT_EQ(login(c, "root", next, "web02"), LoginOutcome::kAccepted);
}

}  // namespace
}  // namespace sekisho::broker
