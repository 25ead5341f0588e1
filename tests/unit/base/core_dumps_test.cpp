#include "base/core_dumps.hpp"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sekisho {
namespace {

// Runs in a child, so the test process itself stays dumpable for the sanitizers and gtest.
TEST(CoreDumps, ForbidMakesTheProcessNonDumpableWithNoCoreLimit) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) ::_exit(10);  // dumpable before
    if (!forbid_core_dumps()) ::_exit(11);
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) ::_exit(12);
    rlimit lim{};
    if (::getrlimit(RLIMIT_CORE, &lim) != 0) ::_exit(13);
    if (lim.rlim_cur != 0 || lim.rlim_max != 0) ::_exit(14);
    // The hard limit is 0: raising it again is refused (without CAP_SYS_RESOURCE).
    const rlimit more{RLIM_INFINITY, RLIM_INFINITY};
    if (::geteuid() != 0 && ::setrlimit(RLIMIT_CORE, &more) == 0) ::_exit(15);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "step that failed: " << WEXITSTATUS(status);
}

}  // namespace
}  // namespace sekisho
