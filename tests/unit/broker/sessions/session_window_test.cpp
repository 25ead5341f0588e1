// The window check's decision (warn, close, kill) and the core's pushes to a worker (try_push).
#include "broker/sessions/session_window.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/daemon/config.hpp"
#include "broker/ssh/worker_link.hpp"
#include "privsep/worker_protocol.hpp"
#include "tests/support/socket_pair.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;

const TimePoint kEnd = *parse_time("2026-11-26T14:05:00Z");

TEST(WindowStep, NothingWellBeforeTheWarning) {
  EXPECT_EQ(window_step(kEnd, false, {}, kEnd - 301s, 300s), WindowStep::kNothing);
}

TEST(WindowStep, WarnsOnceWithinWarnBefore) {
  EXPECT_EQ(window_step(kEnd, false, {}, kEnd - 300s, 300s), WindowStep::kWarn);
  EXPECT_EQ(window_step(kEnd, false, {}, kEnd - 1s, 300s), WindowStep::kWarn);
  EXPECT_EQ(window_step(kEnd, true, {}, kEnd - 1s, 300s), WindowStep::kNothing);
}

TEST(WindowStep, ClosesAtTheEndWarnedOrNot) {
  EXPECT_EQ(window_step(kEnd, true, {}, kEnd, 300s), WindowStep::kClose);
  EXPECT_EQ(window_step(kEnd, false, {}, kEnd + 5s, 300s), WindowStep::kClose);
}

TEST(WindowStep, KillsOnlyAfterTheGraceOfAClose) {
  const TimePoint closed = kEnd + 1s;
  EXPECT_EQ(window_step(kEnd, true, closed, closed + 9s, 300s, 10s), WindowStep::kNothing);
  EXPECT_EQ(window_step(kEnd, true, closed, closed + 10s, 300s, 10s), WindowStep::kKill);
  // A kill well before the window end follows the same grace.
  const TimePoint killed = kEnd - 1h;
  EXPECT_EQ(window_step(kEnd, false, killed, killed + 3s, 300s, 10s), WindowStep::kNothing);
  EXPECT_EQ(window_step(kEnd, false, killed, killed + 11s, 300s, 10s), WindowStep::kKill);
}

TEST(WindowWarning, SaysMinutesRoundedUpAndTheTime) {
  EXPECT_EQ(window_warning("root@web01", kEnd, kEnd - 300s),
            "sekisho: your approved window for root@web01 ends in 5 min (at 14:05 UTC)");
  EXPECT_EQ(window_warning("root@web01", kEnd, kEnd - 241s),
            "sekisho: your approved window for root@web01 ends in 5 min (at 14:05 UTC)");
  EXPECT_EQ(window_warning("root@web01", kEnd + 7s, kEnd + 4s),
            "sekisho: your approved window for root@web01 ends in 3 s (at 14:05:07 UTC)");
}

TEST(WarnBeforeConfig, DefaultsToFiveMinutesAndReadsADuration) {
  auto plain = parse_config("", "c.toml");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->ssh_limits.warn_before, 300s);
  auto set = parse_config("[ssh]\nlisten = \"127.0.0.1:0\"\nwarn_before = \"3s\"\n", "c.toml");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->ssh_limits.warn_before, 3s);
}

TEST(WarnBeforeConfig, RefusesNonsenseInOneLineNamingTheKey) {
  for (const char* value : {"\"soon\"", "\"0s\"", "\"25h\"", "5"}) {
    auto r = parse_config(std::string("[ssh]\nwarn_before = ") + value + "\n", "c.toml");
    ASSERT_FALSE(r) << value;
    EXPECT_NE(r.error().message.find("ssh.warn_before"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  }
}

using Pair = testing::LinkPair;

TEST(TryPush, SendsAndStepsAsideWhileTheMonitorSends) {
  Pair p;
  WorkerLink link(p.core.get(), -1);
  ASSERT_TRUE(try_push(link, {{"type", "notice"}, {"text", "hello"}}));
  auto got = wire::receive_message(p.worker.get());
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body["text"], "hello");
  std::lock_guard busy(link.send_mu);  // the monitor is replying: the push does not wait
  EXPECT_FALSE(try_push(link, {{"type", "close"}, {"reason", "x"}}));
}

TEST(TryPush, StepsAsideWhenTheWorkerStoppedReading) {
  Pair p;
  WorkerLink link(p.core.get(), -1);
  const std::string filler(4000, 'x');
  int sent = 0;
  while (sent < 64 && try_push(link, {{"type", "notice"}, {"text", filler}})) ++sent;
  EXPECT_LT(sent, 64);  // refused once about 16 KiB wait unread, never blocked
  EXPECT_GE(sent, 1);
}

}  // namespace
}  // namespace sekisho::broker
