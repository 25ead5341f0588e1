// The window check's decision (warn, close, kill) and the worker's CoreLink, which sets aside
// what the core pushes while the worker waits for a reply.
#include "broker/session_window.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "broker/config.hpp"
#include "broker/core_link.hpp"
#include "broker/worker_protocol.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;
using worker_detail::CoreLink;

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

struct Pair {
  wire::Fd core, worker;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    core = wire::Fd(fds[0]);
    worker = wire::Fd(fds[1]);
  }
};

TEST(CoreLink, AskSetsAsidePushesThatComeBeforeItsReply) {
  Pair p;
  CoreLink link(p.worker.get());
  std::thread core([&] {
    auto request = wire::receive_message(p.core.get());
    ASSERT_TRUE(request);
    EXPECT_EQ(request->body["type"], "file_transfer");
    ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "notice"}, {"text", "ends soon"}}));
    ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "close"}, {"reason", "killed"}}));
    ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "reply"}, {"ok", true}}));
  });
  auto reply = link.ask({{"type", "file_transfer"}});
  core.join();
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_TRUE(link.ok(reply));
  auto pushes = link.take_pushes();
  ASSERT_EQ(pushes.size(), 2u);
  EXPECT_EQ(pushes[0]["type"], "notice");
  EXPECT_EQ(pushes[0]["text"], "ends soon");
  EXPECT_EQ(pushes[1]["type"], "close");
  EXPECT_EQ(pushes[1]["reason"], "killed");
  EXPECT_TRUE(link.take_pushes().empty());
}

TEST(CoreLink, TakePushesReadsWhatWaitsWithoutBlocking) {
  Pair p;
  CoreLink link(p.worker.get());
  EXPECT_TRUE(link.take_pushes().empty());  // nothing sent: returns at once
  ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "close"}, {"reason", "window ended"}}));
  auto pushes = link.take_pushes();
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(pushes[0]["reason"], "window ended");
  EXPECT_FALSE(link.down());
}

TEST(CoreLink, KeepsACloseWhenFloodedWithNotices) {
  Pair p;
  CoreLink link(p.worker.get());
  std::thread core([&] {
    auto request = wire::receive_message(p.core.get());
    ASSERT_TRUE(request);
    for (std::size_t i = 0; i < CoreLink::kMaxPending + 5; ++i) {
      ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "notice"}, {"text", "n"}}));
    }
    ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "unknown_push"}}));
    ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "close"}, {"reason", "end"}}));
    ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "reply"}, {"ok", true}}));
  });
  ASSERT_TRUE(link.ask({{"type", "refused"}}));
  core.join();
  auto pushes = link.take_pushes();
  ASSERT_EQ(pushes.size(), CoreLink::kMaxPending + 1);
  EXPECT_EQ(pushes.back()["type"], "close");
}

TEST(CoreLink, AGoneCoreBecomesAClose) {
  Pair p;
  CoreLink link(p.worker.get());
  p.core = wire::Fd();
  auto pushes = link.take_pushes();
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(pushes[0]["type"], "close");
  EXPECT_TRUE(link.down());
  EXPECT_TRUE(link.take_pushes().empty());  // once: the relay ends on it
}

// The core's death (docs/ssh_gateway.md "When the core dies"): the made-up close says so, so that
// the relay tells the user the gateway stopped and does not ask the dead core to sign.
TEST(CoreLink, TheCloseOfAGoneCoreSaysTheCoreIsGone) {
  Pair p;
  CoreLink link(p.worker.get());
  ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "close"}, {"reason", "killed"}}));
  p.core = wire::Fd();
  auto pushes = link.take_pushes();
  ASSERT_EQ(pushes.size(), 2u);
  EXPECT_EQ(pushes[0]["reason"], "killed");  // what the core sent before it died comes first
  EXPECT_FALSE(pushes[0].value("core_gone", false));
  EXPECT_EQ(pushes[1]["type"], "close");
  EXPECT_TRUE(pushes[1].value("core_gone", false));
}

TEST(CoreLink, AnAskThatFindsTheCoreGoneStillEndsTheRelay) {
  Pair p;
  CoreLink link(p.worker.get());
  p.core = wire::Fd();
  EXPECT_FALSE(link.ask({{"type", "file_transfer"}}));
  EXPECT_TRUE(link.down());
  // The relay learns it from take_pushes(), whoever found the core gone first.
  auto pushes = link.take_pushes();
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_TRUE(pushes[0].value("core_gone", false));
  EXPECT_TRUE(link.take_pushes().empty());
}

TEST(CoreLink, PeerGoneSeesTheHangUpWithoutTakingPushes) {
  Pair p;
  CoreLink link(p.worker.get());
  EXPECT_FALSE(link.peer_gone());
  ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "notice"}, {"text", "ends soon"}}));
  EXPECT_FALSE(link.peer_gone());  // a push waiting is not a hang-up
  p.core = wire::Fd();
  EXPECT_TRUE(link.peer_gone());
  auto pushes = link.take_pushes();
  ASSERT_EQ(pushes.size(), 2u);
  EXPECT_EQ(pushes[0]["text"], "ends soon");
  EXPECT_TRUE(pushes[1].value("core_gone", false));
}

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
