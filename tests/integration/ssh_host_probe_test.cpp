// probe_ssh_host_key against a real OpenSSH sshd started by tests/harness/sshd_host.sh, and the
// harness's own promise: what happens to /etc inside a host never reaches the real machine.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "base/crypto.hpp"
#include "ssh/keys.hpp"
#include "tests/harness/sshd_host.hpp"

namespace sekisho::ssh {
namespace {

namespace fs = std::filesystem;
using sekisho::testing::CommandResult;
using sekisho::testing::run_command;
using sekisho::testing::SshdHost;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string file_sha256(const fs::path& path) {
  return hex_encode(sha256(as_bytes(read_text(path))));
}

// The SHA256:… field of `ssh-keygen -lf FILE`.
std::string keygen_fingerprint(const fs::path& pub) {
  std::istringstream in(run_command("ssh-keygen -lf " + pub.string()).out);
  std::string bits, fingerprint;
  in >> bits >> fingerprint;
  return fingerprint;
}

// "type base64" of a .pub file, without its comment.
std::string type_and_base64(const fs::path& pub) {
  std::istringstream in(read_text(pub));
  std::string type, b64;
  in >> type >> b64;
  return type + " " + b64;
}

// A loopback socket bound to a kernel-chosen port; listening or not. Closed on destruction.
class LoopbackSocket {
 public:
  explicit LoopbackSocket(bool listening) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        (listening && listen(fd_, 4) != 0) ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;
  ~LoopbackSocket() {
    if (fd_ >= 0) close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

class SshHostProbe : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = sekisho::testing::make_host_temp_dir("sekisho-sshprobe");
    ASSERT_FALSE(dir_.empty());
    std::string error;
    host_ = SshdHost::start(dir_ / "web01", "web01", {"alice"}, &error);
    ASSERT_TRUE(host_.has_value()) << "host did not start: " << error;
  }
  void TearDown() override {
    if (host_) {
      const pid_t pid = host_->pid();
      host_->stop();  // SIGTERM by PID, bounded wait, SIGKILL
      EXPECT_FALSE(sekisho::testing::process_alive(pid)) << "sshd " << pid << " still runs";
      host_.reset();
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  fs::path dir_;
  std::optional<SshdHost> host_;
};

TEST_F(SshHostProbe, ReturnsTheHostsEd25519KeyAsSshKeygenSeesIt) {
  auto key = probe_ssh_host_key("127.0.0.1", host_->port(), std::chrono::seconds(10));
  ASSERT_TRUE(key) << key.error().message;
  const fs::path pub = host_->dir() / "ssh_host_ed25519_key.pub";
  EXPECT_EQ(key->type, "ssh-ed25519");
  EXPECT_EQ(key->fingerprint, keygen_fingerprint(pub));
  EXPECT_EQ(key->public_line, type_and_base64(pub));

  // The pinning helper agrees with the key file, and not with the host's other key.
  ssh_key from_file = nullptr;
  ASSERT_EQ(ssh_pki_import_pubkey_file(pub.c_str(), &from_file), SSH_OK);
  EXPECT_TRUE(same_host_key(*key, from_file));
  ssh_key_free(from_file);
  ssh_key ecdsa = nullptr;
  ASSERT_EQ(ssh_pki_import_pubkey_file((host_->dir() / "ssh_host_ecdsa_key.pub").c_str(), &ecdsa),
            SSH_OK);
  EXPECT_FALSE(same_host_key(*key, ecdsa));
  ssh_key_free(ecdsa);

  // The probe does not log in: sshd saw no authentication attempt.
  const std::string log = read_text(host_->dir() / "sshd.log");
  EXPECT_EQ(log.find("Accepted"), std::string::npos) << log;
  EXPECT_EQ(log.find("Failed"), std::string::npos) << log;
}

TEST_F(SshHostProbe, ChpasswdInsideTheHostLeavesTheRealShadowAlone) {
  const std::string real_before = file_sha256("/etc/shadow");
  const CommandResult inside_before = host_->exec("sha256sum /etc/shadow");
  ASSERT_EQ(inside_before.status, 0);

  // A random password, never printed.
  const std::string password = hex_encode(random_secret(12).bytes());
  ASSERT_TRUE(host_->set_password("root", password));
  ASSERT_TRUE(host_->set_password("alice", password));

  const CommandResult inside_after = host_->exec("sha256sum /etc/shadow");
  ASSERT_EQ(inside_after.status, 0);
  EXPECT_NE(inside_before.out, inside_after.out) << "chpasswd changed nothing inside the host";
  EXPECT_EQ(file_sha256("/etc/shadow"), real_before) << "the real /etc/shadow changed";

  // The account made by the harness exists only inside the host.
  EXPECT_EQ(host_->exec("id -u alice >/dev/null").status, 0);
  EXPECT_EQ(read_text("/etc/passwd").find("\nalice:"), std::string::npos);
}

TEST(SshHostProbeKinds, RsaOnlyHostIsProbedWithSha2Signatures) {
  const fs::path dir = sekisho::testing::make_host_temp_dir("sekisho-sshprobe-rsa");
  ASSERT_FALSE(dir.empty());
  ASSERT_EQ(setenv("SSHD_HOST_KEY_TYPES", "rsa", 1), 0);
  std::string error;
  auto host = SshdHost::start(dir / "db01", "db01", {}, &error);
  unsetenv("SSHD_HOST_KEY_TYPES");
  ASSERT_TRUE(host.has_value()) << "host did not start: " << error;
  auto key = probe_ssh_host_key("127.0.0.1", host->port(), std::chrono::seconds(10));
  host->stop();
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->type, "ssh-rsa");
  EXPECT_EQ(key->fingerprint, keygen_fingerprint(dir / "db01" / "ssh_host_rsa_key.pub"));
  host.reset();
  fs::remove_all(dir);
}

TEST(SshHostProbeErrors, ClosedPortIsUnavailable) {
  std::uint16_t port = 0;
  {
    LoopbackSocket bound(false);  // bound but not listening: connect is refused
    port = bound.port();
    ASSERT_NE(port, 0);
    auto key = probe_ssh_host_key("127.0.0.1", port, std::chrono::seconds(5));
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().code, ErrorCode::kUnavailable);
    const std::string prefix = "cannot reach 127.0.0.1:" + std::to_string(port) + ": ";
    EXPECT_EQ(key.error().message.rfind(prefix, 0), 0u) << key.error().message;
    EXPECT_EQ(key.error().message.find('\n'), std::string::npos) << key.error().message;
  }
}

TEST(SshHostProbeErrors, SilentServerTimesOut) {
  // Listening, never accepting, never speaking: the handshake must end at the timeout.
  LoopbackSocket silent(true);
  ASSERT_NE(silent.port(), 0);
  auto key = probe_ssh_host_key("127.0.0.1", silent.port(), std::chrono::seconds(1));
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(key.error().message.rfind("cannot reach 127.0.0.1:", 0), 0u) << key.error().message;
}

TEST(SshHostProbeErrors, RefusesEmptyAddressAndPortZero) {
  EXPECT_EQ(probe_ssh_host_key("", 22, std::chrono::seconds(1)).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(probe_ssh_host_key("127.0.0.1", 0, std::chrono::seconds(1)).error().code,
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace sekisho::ssh
