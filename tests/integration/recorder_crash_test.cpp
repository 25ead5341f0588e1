// A writer process killed with SIGKILL at random moments leaves a recording whose complete chunks
// verify and replay exactly the records appended first.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "tests/harness/recorder_append_loop.hpp"
#include "tests/harness/recorder_keys.hpp"
#include "tests/support/temp_dir.hpp"

namespace sekisho::recorder {
namespace {

pid_t start_loop(const std::filesystem::path& keys, const std::filesystem::path& file, int& out,
                 bool at_fd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    if (at_fd) {
      execl(RECORDER_APPEND_LOOP, RECORDER_APPEND_LOOP, keys.c_str(), file.c_str(), "fd", nullptr);
    } else {
      execl(RECORDER_APPEND_LOOP, RECORDER_APPEND_LOOP, keys.c_str(), file.c_str(), nullptr);
    }
    _exit(127);
  }
  close(fds[1]);
  out = fds[0];
  return pid;
}

// Kills `rounds` writers (Writer::create, or create_at when `at_fd`) at random moments and checks
// each file.
void kill_rounds(bool at_fd, int rounds) {
  testing::TempDir dir;
  const auto keys = testing::load_tool_keys(dir.path() / "keys");
  std::mt19937 rng(std::random_device{}());
  int with_chunks = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto file = dir.path() / ("crash" + std::to_string(round) + ".skr");
    int out = -1;
    const pid_t pid = start_loop(dir.path() / "keys", file, out, at_fd);
    ASSERT_GT(pid, 0);
    // Let it take between 20 and 2000 records, then kill it wherever it is.
    const int wanted = 1 + static_cast<int>(rng() % 100);
    char c;
    int got = 0;
    while (got < wanted && read(out, &c, 1) == 1) ++got;
    usleep(static_cast<useconds_t>(rng() % 3000));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    close(out);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the loop ended by itself: " << status;
    ASSERT_EQ(got, wanted);

    auto report = verify(file, keys.signer.public_pem());
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report->chain_ok) << "round " << round << ": " << report->problems.at(0);
    ASSERT_TRUE(report->truncated_after) << "round " << round;
    EXPECT_EQ(report->problems.size(), 1u) << report->problems.at(0);

    auto reader = Reader::open(file, testing::tool_unwrapper(keys));
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ((*reader)->truncated_after(), report->truncated_after);
    std::uint64_t i = 0;
    bool same = true;
    ASSERT_TRUE((*reader)->replay(0, [&](const Record& r) {
      const Record want = testing::loop_record(i++);
      same = r.kind == want.kind && r.at_us == want.at_us && r.data == want.data;
      return same;
    }));
    EXPECT_TRUE(same) << "round " << round << ": record " << i - 1 << " differs";
    if (report->chunks > 0) ++with_chunks;
  }
  // Most rounds must have written chunks, or the test proved little.
  EXPECT_GE(with_chunks, rounds / 2);
}

TEST(RecorderCrash, EveryKilledWriterLeavesAVerifiableReplayablePrefix) { kill_rounds(false, 24); }

// The session worker's path: the file was created by someone else and written through its
// descriptor (Writer::create_at).
TEST(RecorderCrash, EveryKilledWriterOnAPassedDescriptorLeavesAVerifiableReplayablePrefix) {
  kill_rounds(true, 16);
}

}  // namespace
}  // namespace sekisho::recorder
