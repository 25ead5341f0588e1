// Crash safety of the audit log with real SIGKILLs: a child appends events in a loop and is killed
// at random moments; after every kill the store opens, the chain verifies, and every event the
// child saw acknowledged is present, unchanged.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "base/clock.hpp"
#include "base/files.hpp"
#include "broker/daemon/init.hpp"
#include "storage/audit_checkpoint.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"
#include "tests/support/temp_dir.hpp"

namespace sekisho {
namespace {

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Child spawn_writer(const std::string& data_dir, int batch) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    const std::string b = std::to_string(batch);
    execl(AUDIT_APPEND_LOOP, AUDIT_APPEND_LOOP, data_dir.c_str(), b.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  return {pid, fdopen(fds[0], "r")};
}

// Reads acknowledgements for `lines` lines, then kills the child; returns the last acked seq.
std::int64_t run_and_kill(const Child& child, int lines) {
  std::int64_t last = 0;
  char buf[128];
  for (int i = 0; i < lines && std::fgets(buf, sizeof buf, child.out) != nullptr; ++i) {
    long long seq = 0;
    long long n = 0;
    if (std::sscanf(buf, "acked %lld %lld", &seq, &n) == 2) last = seq;
  }
  kill(child.pid, SIGKILL);
  // Acknowledgements already in the pipe were also made before the kill.
  while (std::fgets(buf, sizeof buf, child.out) != nullptr) {
    long long seq = 0;
    long long n = 0;
    if (std::sscanf(buf, "acked %lld %lld", &seq, &n) == 2) last = seq;
  }
  std::fclose(child.out);
  int status = 0;
  waitpid(child.pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child died on its own";
  return last;
}

TEST(AuditCrash, KilledWriterNeverLosesAnAcknowledgedEvent) {
  testing::TempDir tmp;
  const auto data_dir = tmp.path() / "var";
  const SystemClock clock;
  auto init = broker::init_data_dir(data_dir, "admin", clock);
  ASSERT_TRUE(init) << init.error().message;
  const storage::DataDir dir(data_dir);

  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> lines(1, 400);
  std::int64_t acked_total = 0;
  for (int round = 0; round < 24; ++round) {
    const int batch = round % 3 == 2 ? 50 : 1;  // single events and batches
    const Child child = spawn_writer(data_dir.string(), batch);
    ASSERT_GT(child.pid, 0);
    const std::int64_t acked = run_and_kill(child, lines(rng));
    ASSERT_GE(acked, acked_total) << "round " << round;
    acked_total = acked;

    auto store = storage::open_data_dir_store(dir, {});
    ASSERT_TRUE(store) << "round " << round << ": " << store.error().message;
    auto log = storage::AuditLog::open(**store, clock);
    ASSERT_TRUE(log);
    auto pem = read_file(dir.signing_public_key(), 4096);
    auto checkpoints = storage::read_checkpoints(dir.audit_checkpoints(), *pem);
    ASSERT_TRUE(checkpoints);
    auto report = (*log)->verify(*checkpoints);
    ASSERT_TRUE(report);
    ASSERT_TRUE(report->ok) << "round " << round << ": " << report->problem;
    EXPECT_GE(report->events, acked) << "round " << round << ": an acknowledged event was lost";
    // The last acknowledged event is there with its own payload.
    bool found = false;
    ASSERT_TRUE((*store)->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare("SELECT target FROM audit_events WHERE seq = ?");
      s->bind(1, acked);
      if (*s->step()) found = s->column_text(0) == "n" + std::to_string(acked) || acked <= 2;
      return ok();
    }));
    EXPECT_TRUE(found || acked == 0) << "event " << acked << " missing or changed";
  }
  EXPECT_GT(acked_total, 24) << "the writer hardly ran; the test proved little";
}

}  // namespace
}  // namespace sekisho
