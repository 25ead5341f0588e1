// The worker's CoreLink, which sets aside what the core pushes while the worker waits for a reply,
// and turns a core that is gone into a close.
#include "privsep/core_link.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "privsep/worker_protocol.hpp"
#include "tests/support/socket_pair.hpp"

namespace sekisho::privsep {
namespace {

using Pair = testing::LinkPair;

TEST(CoreLink, AskSetsAsidePushesThatComeBeforeItsReply) {
  Pair p;
  privsep::CoreLink link(p.worker.get());
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
  privsep::CoreLink link(p.worker.get());
  EXPECT_TRUE(link.take_pushes().empty());  // nothing sent: returns at once
  ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "close"}, {"reason", "window ended"}}));
  auto pushes = link.take_pushes();
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(pushes[0]["reason"], "window ended");
  EXPECT_FALSE(link.down());
}

TEST(CoreLink, KeepsACloseWhenFloodedWithNotices) {
  Pair p;
  privsep::CoreLink link(p.worker.get());
  std::thread core([&] {
    auto request = wire::receive_message(p.core.get());
    ASSERT_TRUE(request);
    for (std::size_t i = 0; i < privsep::CoreLink::kMaxPending + 5; ++i) {
      ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "notice"}, {"text", "n"}}));
    }
    ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "unknown_push"}}));
    ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "close"}, {"reason", "end"}}));
    ASSERT_TRUE(wire::send_message(p.core.get(), {{"type", "reply"}, {"ok", true}}));
  });
  ASSERT_TRUE(link.ask({{"type", "refused"}}));
  core.join();
  auto pushes = link.take_pushes();
  ASSERT_EQ(pushes.size(), privsep::CoreLink::kMaxPending + 1);
  EXPECT_EQ(pushes.back()["type"], "close");
}

TEST(CoreLink, AGoneCoreBecomesAClose) {
  Pair p;
  privsep::CoreLink link(p.worker.get());
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
  privsep::CoreLink link(p.worker.get());
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
  privsep::CoreLink link(p.worker.get());
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
  privsep::CoreLink link(p.worker.get());
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

}  // namespace
}  // namespace sekisho::privsep
