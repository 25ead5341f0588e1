// The host-key probe of `hosts add` (broker/ssh/host_key_probe.hpp) against a real OpenSSH sshd
// started by tests/harness/sshd_host.sh, through this build's real sekisho-worker: the key types,
// the errors, and the worker itself (its job, the root it gives up, its seccomp filter). And the
// harness's own promise: what happens to /etc inside a host never reaches the real machine.
#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "base/crypto.hpp"
#include "broker/ssh/host_key_probe.hpp"
#include "privsep/worker_protocol.hpp"
#include "privsep/worker_spawn.hpp"
#include "ssh/keys.hpp"
#include "tests/harness/sshd_host.hpp"

namespace sekisho::ssh {
namespace {

namespace fs = std::filesystem;
using sekisho::testing::CommandResult;
using sekisho::testing::file_sha256;
using sekisho::testing::read_text;
using sekisho::testing::run_command;
using sekisho::testing::SshdHost;
using sekisho::testing::type_and_base64;

// A data dir for the probe worker's empty root, removed with the object.
class ProbeDataDir {
 public:
  ProbeDataDir() : path_(sekisho::testing::make_host_temp_dir("sekisho-probe-data")) {}
  ~ProbeDataDir() {
    if (!path_.empty()) fs::remove_all(path_);
  }
  ProbeDataDir(const ProbeDataDir&) = delete;
  ProbeDataDir& operator=(const ProbeDataDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The probe as `hosts add` runs it, with this build's worker: as root, the worker gives up root
// for nobody in DATA/empty.
Result<SshHostKey> probe_ssh_host_key(const std::string& address, std::uint16_t port,
                                      std::chrono::seconds timeout) {
  ProbeDataDir data;
  return broker::probe_ssh_host_key({"nobody", data.path(), SEKISHO_WORKER}, address, port,
                                    timeout);
}

// The SHA256:… field of `ssh-keygen -lf FILE`.
std::string keygen_fingerprint(const fs::path& pub) {
  std::istringstream in(run_command("ssh-keygen -lf " + pub.string()).out);
  std::string bits, fingerprint;
  in >> bits >> fingerprint;
  return fingerprint;
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

// ---- the probe worker itself ------------------------------------------------------------------

// One field of a /proc status text ("Seccomp" -> "2"); empty when absent.
std::string status_field(const std::string& status, const std::string& name) {
  const std::string key = name + ":\t";
  const auto at = status.rfind(key, 0) == 0 ? 0 : status.find("\n" + key);
  if (at == std::string::npos) return "";
  const auto from = at + (at == 0 ? 0 : 1) + key.size();
  return status.substr(from, status.find('\n', from) - from);
}

// The live children of this test process that run sekisho-worker.
std::vector<pid_t> worker_children() {
  std::vector<pid_t> out;
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string status = read_text(it->path() / "status");
    if (status_field(status, "Name") == "sekisho-worker" &&
        status_field(status, "PPid") == std::to_string(::getpid()) &&
        status_field(status, "State").rfind('Z', 0) != 0) {
      out.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return out;
}

TEST(SshHostProbeWorker, GivesUpRootAndRunsUnderSeccompBeforeTheHostSpeaks) {
  LoopbackSocket silent(true);  // accepted by the kernel, never answered: the worker waits
  ASSERT_NE(silent.port(), 0);
  ProbeDataDir data;
  Result<SshHostKey> key;
  std::thread probing([&] {
    key = broker::probe_ssh_host_key({"nobody", data.path(), SEKISHO_WORKER}, "127.0.0.1",
                                     silent.port(), std::chrono::seconds(5));
  });
  pid_t pid = -1;
  std::string status, root;
  for (int i = 0; i < 200 && status_field(status, "Seccomp") != "2"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    const auto children = worker_children();
    if (children.size() != 1) continue;
    pid = children[0];
    status = read_text("/proc/" + std::to_string(pid) + "/status");
    std::error_code ec;
    root = fs::read_symlink("/proc/" + std::to_string(pid) + "/root", ec).string();
  }
  probing.join();
  ASSERT_GT(pid, 0) << "no sekisho-worker child seen";
  EXPECT_EQ(status_field(status, "Seccomp"), "2") << status;
  EXPECT_EQ(status_field(status, "NoNewPrivs"), "1") << status;
  if (::geteuid() == 0) {
    EXPECT_EQ(status_field(status, "Uid"), "65534\t65534\t65534\t65534") << status;
    EXPECT_EQ(status_field(status, "Gid"), "65534\t65534\t65534\t65534") << status;
    EXPECT_EQ(root, (data.path() / "empty").string());
  }
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(key.error().message.rfind(
                "cannot reach 127.0.0.1:" + std::to_string(silent.port()) + ": ", 0),
            0u)
      << key.error().message;
  EXPECT_TRUE(worker_children().empty()) << "the probe worker was not reaped";
}

TEST(SshHostProbeWorker, AnUnknownJobIsRefusedAndTheWorkerExitsWithoutAWord) {
  // Hellos complete for a session but for their job, and a client socket that stays silent: a
  // worker that took them for a session would wait in the key exchange.
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  wire::Fd silent_client(pair[0]), worker_side(pair[1]);
  ssh_key raw = nullptr;
  ASSERT_EQ(ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw), SSH_OK);
  char* pem = nullptr;
  ASSERT_EQ(ssh_pki_export_privkey_base64(raw, nullptr, nullptr, nullptr, &pem), SSH_OK);
  ssh_key_free(raw);
  const std::string host_key(pem);
  ssh_string_free_char(pem);
  const nlohmann::json hellos[] = {
      {{"type", "hello"}, {"job", "rotate_password"}, {"host_key", host_key}},
      {{"type", "hello"}, {"host_key", host_key}, {"change_user", nullptr}},
      {{"type", "hello"}, {"job", 7}, {"host_key", host_key}},
  };
  int n = 0;
  for (const auto& hello : hellos) {
    SCOPED_TRACE("hello #" + std::to_string(n++));  // not the hello itself: it holds a key
    auto worker = privsep::spawn_worker(SEKISHO_WORKER, worker_side.get());
    ASSERT_TRUE(worker) << worker.error().message;
    ASSERT_TRUE(wire::send_message(worker->core.get(), hello));
    int status = -1;
    bool exited = false;
    for (int i = 0; i < 200 && !exited; ++i) {
      exited = ::waitpid(worker->pid, &status, WNOHANG) == worker->pid;
      if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    if (!exited) privsep::reap_worker(worker->pid, std::chrono::milliseconds(0));
    ASSERT_TRUE(exited) << "the worker did not exit by itself within 5 s";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
    auto answer = wire::receive_message(worker->core.get());
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().code, ErrorCode::kNotFound) << answer.error().message;
  }
}

TEST_F(SshHostProbe, NotRootTheWorkerKeepsTheCallersUidAndStillFetchesTheKey) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another uid";
  const std::string want = keygen_fingerprint(host_->dir() / "ssh_host_ed25519_key.pub");
  const std::uint16_t port = host_->port();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // As a daemon started by an ordinary user: nothing to give up, the sandbox still on.
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(10);
    }
    auto key = probe_ssh_host_key("127.0.0.1", port, std::chrono::seconds(10));
    ::_exit(!key ? 11 : key->fingerprint == want ? 0 : 12);
  }
  int status = -1;
  bool exited = false;
  for (int i = 0; i < 600 && !exited; ++i) {
    exited = ::waitpid(child, &status, WNOHANG) == child;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!exited) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  }
  ASSERT_TRUE(exited) << "the probe as uid 65534 did not end within 30 s";
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: setresuid, 11: no key, 12: another key";
}

}  // namespace
}  // namespace sekisho::ssh
