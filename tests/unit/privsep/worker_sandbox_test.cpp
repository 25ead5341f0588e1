// The worker's seccomp filter, installed by the same function the worker calls
// (install_worker_sandbox) in a forked child: the calls a session needs still work, and each
// call that would let a compromised worker reach beyond its descriptors kills the child with
// SIGSYS, after the filter and before the call could take effect.
#include "privsep/worker_sandbox.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <thread>

namespace sekisho::privsep {
namespace {

struct Outcome {
  bool exited = false;
  int code = -1;
  int signal = 0;
};

// Runs `body` in a child under the worker's filter; the child's exit code is what body returns
// (100: the filter could not be installed).
Outcome in_sandboxed_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!install_worker_sandbox()) std::_Exit(100);
    std::_Exit(body());
  }
  int status = 0;
  Outcome o;
  if (::waitpid(pid, &status, 0) != pid) return o;
  o.exited = WIFEXITED(status);
  if (o.exited) o.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  return o;
}

void expect_killed(const char* what, const std::function<int()>& body) {
  const Outcome o = in_sandboxed_child(body);
  EXPECT_FALSE(o.exited) << what << ": the child exited " << o.code << " instead of dying";
  EXPECT_EQ(o.signal, SIGSYS) << what;
}

TEST(WorkerSandbox, WhatASessionNeedsStillWorks) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const Outcome o = in_sandboxed_child([&] {
    char buf[32];
    if (::getrandom(buf, sizeof buf, 0) != sizeof buf) return 1;
    if (::write(fds[1], "x", 1) != 1 || ::read(fds[0], buf, 1) != 1) return 2;
    int ran = 0;
    std::thread t([&] { ran = 1; });  // the recorder's writer thread
    t.join();
    if (ran != 1) return 3;
    void* p = std::malloc(1 << 20);  // mmap
    if (p == nullptr) return 4;
    std::free(p);
    // Opening a file is refused with an error the caller can handle, not a kill.
    if (::open("/etc/hostname", O_RDONLY) != -1 || errno != EACCES) return 5;
    return 0;
  });
  EXPECT_TRUE(o.exited) << "killed by signal " << o.signal;
  EXPECT_EQ(o.code, 0);
}

TEST(WorkerSandbox, ConnectKills) {
  // The socket exists before the filter: only the connect is tried under it.
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  expect_killed("connect", [s] {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(9);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    return 0;
  });
  ::close(s);
}

TEST(WorkerSandbox, NewSocketKills) {
  expect_killed("socket", [] { return ::socket(AF_UNIX, SOCK_STREAM, 0) >= 0 ? 0 : 1; });
}

TEST(WorkerSandbox, ExecKills) {
  expect_killed("execve", [] {
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    ::execve("/bin/true", argv, nullptr);
    return 0;
  });
}

TEST(WorkerSandbox, ForkKills) {
  if (built_with_sanitizer()) GTEST_SKIP() << "LeakSanitizer needs clone without CLONE_THREAD";
  expect_killed("fork", [] {
    const pid_t p = ::fork();
    if (p == 0) std::_Exit(0);
    return 0;
  });
}

TEST(WorkerSandbox, SignallingAnotherProcessKills) {
  // Every worker shares worker_user's uid: without the filter one could signal the others.
  const pid_t other = ::getpid();  // the parent, from the child's point of view
  expect_killed("tgkill of another process", [other] {
    (void)::syscall(SYS_tgkill, other, other, 0);
    return 0;
  });
}

TEST(WorkerSandbox, TheSanitizerListOnlyWidens) {
  const auto release = worker_sandbox_rules(false);
  const auto wide = worker_sandbox_rules(true);
  EXPECT_GE(wide.size(), release.size());
  for (const auto& r : release) {
    bool found = false;
    for (const auto& w : wide) found = found || w.name == r.name;
    EXPECT_TRUE(found) << r.name;
  }
  for (const auto& rules : {release, wide}) {
    for (const auto& r : rules) {
      EXPECT_NE(r.name, "connect");
      EXPECT_NE(r.name, "socket");
      EXPECT_NE(r.name, "execve");
      EXPECT_NE(r.name, "execveat");
    }
  }
}

}  // namespace
}  // namespace sekisho::privsep
