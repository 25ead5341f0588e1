// The worker giving up root, applied in a forked child (the test process keeps its own ids).
// As root: the child becomes `nobody` in the empty root and cannot get back; not root: only the
// always-applied limits are checked.
#include "privsep/worker_privileges.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>

#include "tests/support/temp_dir.hpp"

namespace sekisho::privsep {
namespace {

using testing::TempDir;

// Runs `check` in a child after apply_worker_privileges(p); the child's exit code is the number
// of the first failed check (0: all held).
int in_dropped_child(const WorkerPrivileges& p, const std::function<int()>& check) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!apply_worker_privileges(p)) ::_exit(100);
    ::_exit(check());
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(WorkerPrivileges, AsRootAMissingOrRootUserIsRefusedInOneLine) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir;
  auto r = resolve_worker_privileges("no-such-user-sekisho", dir.path());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("ssh.worker_user \"no-such-user-sekisho\" does not exist"),
            std::string::npos);
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  r = resolve_worker_privileges("root", dir.path());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("must not run as root"), std::string::npos);
}

TEST(WorkerPrivileges, AsRootTheEmptyRootIsCreatedRootOwnedAndMustStayEmpty) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir;
  auto p = resolve_worker_privileges("nobody", dir.path());
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE(p->change_user);
  EXPECT_EQ(p->uid, 65534u);
  EXPECT_EQ(p->root, (dir.path() / "empty").string());
  struct stat st {};
  ASSERT_EQ(::stat(p->root.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  std::ofstream(dir.path() / "empty" / "planted") << "x";
  auto again = resolve_worker_privileges("nobody", dir.path());
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("must be empty"), std::string::npos);
}

TEST(WorkerPrivileges, AsRootTheDroppedChildIsNobodyInTheEmptyRootAndCannotGetBack) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir dir;
  const auto secret = dir.path() / "master.key";
  std::ofstream(secret) << "secret";
  ::chmod(secret.c_str(), 0600);
  auto p = resolve_worker_privileges("nobody", dir.path());
  ASSERT_TRUE(p) << p.error().message;
  const std::string secret_path = secret.string();
  const int rc = in_dropped_child(*p, [&] {
    uid_t r = 0, e = 0, s = 0;
    if (::getresuid(&r, &e, &s) != 0 || r != 65534 || e != 65534 || s != 65534) return 1;
    if (::getgid() != p->gid || ::getgroups(0, nullptr) != 0) return 2;
    if (::setuid(0) == 0 || ::setresuid(0, 0, 0) == 0) return 3;
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return 4;
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return 5;
    rlimit core{}, files{};
    ::getrlimit(RLIMIT_CORE, &core);
    ::getrlimit(RLIMIT_NOFILE, &files);
    if (core.rlim_max != 0 || files.rlim_max != kWorkerMaxFiles) return 6;
    // The data dir's files have no path any more; "/" is the empty directory.
    if (::open(secret_path.c_str(), O_RDONLY) >= 0 || errno != ENOENT) return 7;
    if (::access("/etc/passwd", F_OK) == 0 || ::access("/bin/sh", F_OK) == 0) return 8;
    if (::mkdir("/x", 0700) == 0) return 9;  // not writable: nothing can be planted for the next
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(WorkerPrivileges, NotRootNothingToDropButTheLimitsHold) {
  WorkerPrivileges none;  // what resolve returns when not root
  const int rc = in_dropped_child(none, [] {
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return 1;
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) return 2;
    rlimit core{};
    ::getrlimit(RLIMIT_CORE, &core);
    return core.rlim_max == 0 ? 0 : 3;
  });
  EXPECT_EQ(rc, 0);
}

// The hello's "change_user" field, as the core writes it and the worker reads it back.
TEST(WorkerPrivileges, TheHelloCarriesChangeUserBothWays) {
  const WorkerPrivileges p{true, "nobody", 65534, 65534, "/var/lib/sekisho/empty"};
  const nlohmann::json hello = {{"type", "hello"}, {"change_user", privileges_to_hello(p)}};
  auto back = privileges_from_hello(hello);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->change_user);
  EXPECT_EQ(back->user, "nobody");
  EXPECT_EQ(back->uid, 65534u);
  EXPECT_EQ(back->gid, 65534u);
  EXPECT_EQ(back->root, p.root);
  EXPECT_FALSE(hello.contains("drop"));

  // Not root: null, and a hello without the field means the same.
  EXPECT_TRUE(privileges_to_hello(WorkerPrivileges{}).is_null());
  for (const nlohmann::json& h : {nlohmann::json{{"type", "hello"}, {"change_user", nullptr}},
                                  nlohmann::json{{"type", "hello"}}}) {
    auto none = privileges_from_hello(h);
    ASSERT_TRUE(none) << none.error().message;
    EXPECT_FALSE(none->change_user);
  }
}

TEST(WorkerPrivileges, AHelloThatWouldLeaveRootOrNoChrootIsRefused) {
  const nlohmann::json bad[] = {
      {{"change_user", {{"user", "x"}, {"uid", 0}, {"gid", 5}, {"root", "/e"}}}},
      {{"change_user", {{"user", "x"}, {"uid", 5}, {"gid", 0}, {"root", "/e"}}}},
      {{"change_user", {{"user", "x"}, {"uid", 5}, {"gid", 5}, {"root", ""}}}},
      {{"change_user", {{"user", "x"}, {"uid", "5"}, {"gid", 5}, {"root", "/e"}}}},
      {{"change_user", "nobody"}},
  };
  for (const auto& hello : bad) {
    auto r = privileges_from_hello(hello);
    ASSERT_FALSE(r) << hello.dump();
    EXPECT_EQ(r.error().message, "bad privileges in the hello");
  }
}

}  // namespace
}  // namespace sekisho::privsep
