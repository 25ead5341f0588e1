// The core's side of the worker conversation, driven over a real socketpair by a scripted
// "worker": requests out of order end the conversation and are audited; unknown keys are refused.
#include "broker/ssh_monitor.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "tests/unit/storage/test_store.hpp"

namespace sekisho::broker {
namespace {

struct MonitorFixture : ::testing::Test {
  std::unique_ptr<testing::TestStore> t = testing::make_test_store();
  storage::DataDir dir{t->dir.path()};
  SigningKey signer = *SigningKey::generate();
  RequestService requests{*t->store, *t->log, approval::Policy{}, nullptr, t->clock};
  SshGatewayContext ctx{*t->store, *t->log, requests, dir, signer, t->clock};
  wire::Fd worker, core;
  std::thread monitor;

  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    worker = wire::Fd(fds[0]);
    core = wire::Fd(fds[1]);
    // As SshGateway does: the monitor's thread closes the core's end when the answers end.
    monitor = std::thread([this] {
      answer_worker(ctx, "127.0.0.1:1", core.get(), "KEY");
      core = wire::Fd();
    });
    auto hello = wire::receive_message(worker.get());
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->body["type"], "hello");
  }
  void TearDown() override {
    worker = wire::Fd();
    if (monitor.joinable()) monitor.join();
  }
  std::string last_action() {
    std::string action;
    auto r = t->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto q = tx.prepare("SELECT action FROM audit_events ORDER BY seq DESC LIMIT 1");
      if (!q) return tl::make_unexpected(q.error());
      auto row = q->step();
      if (row && *row) action = q->column_text(0);
      return ok();
    });
    EXPECT_TRUE(r);
    return action;
  }
};

TEST_F(MonitorFixture, ACredentialBeforeAnyGrantEndsTheConversation) {
  ASSERT_TRUE(wire::send_message(worker.get(), {{"type", "credential"}, {"host_key", "x"}}));
  auto reply = wire::receive_message(worker.get());
  ASSERT_FALSE(reply);  // no answer: the core closed its side
  monitor.join();
  EXPECT_EQ(last_action(), "ssh.protocol_violation");
}

TEST_F(MonitorFixture, AnUnregisteredKeyIsRefusedAndAudited) {
  const std::string key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
  ASSERT_TRUE(wire::send_message(
      worker.get(),
      {{"type", "auth_pubkey"}, {"target", "root@web01"}, {"key", key}, {"signed", true}}));
  auto reply = wire::receive_message(worker.get());
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body["type"], "reply");
  EXPECT_FALSE(reply->body.value("ok", true));
  EXPECT_EQ(last_action(), "ssh.login");
  // Still unauthenticated: authorize is out of order.
  ASSERT_TRUE(wire::send_message(worker.get(), {{"type", "authorize"}}));
  EXPECT_FALSE(wire::receive_message(worker.get()));
}

}  // namespace
}  // namespace sekisho::broker
