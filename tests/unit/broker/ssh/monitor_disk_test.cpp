// A full recording disk through the core: a session that could not be recorded never starts.
#include "tests/unit/broker/ssh/monitor_fixture.hpp"

namespace sekisho::broker {
namespace {

using nlohmann::json;

// Keeps what the core hands to the operator's webhooks.
struct KeptNotifications : Notifier {
  void notify(Notification n) override {
    std::lock_guard lock(mu);
    kept.push_back(std::move(n));
  }
  std::vector<Notification> taken() {
    std::lock_guard lock(mu);
    return kept;
  }
  std::mutex mu;
  std::vector<Notification> kept;
};

// [recordings] max_total_bytes = 1 with one byte already recorded: no room for a recording.
struct FullRecordingDiskFixture : SessionFixture {
  KeptNotifications webhooks;
  AuditRateLimit alerts{1, std::chrono::minutes(10), t->clock};
  FullRecordingDiskFixture() {
    ctx.recordings = {1, 0, std::chrono::seconds(0)};
    ctx.notifier = &webhooks;
    ctx.disk_alerts = &alerts;
  }
  // Logs alice in up to the recording, which the core refuses.
  std::optional<wire::Message> open_refused() {
    std::filesystem::create_directory(dir.recordings());
    std::ofstream(dir.recordings() / "earlier.skr") << "x";
    for (const json& step : {login(), json{{"type", "authorize"}},
                             json{{"type", "credential"}, {"host_key", kHostKey}}}) {
      auto reply = ask(step);
      EXPECT_TRUE(reply && reply->body.value("ok", false)) << step.dump();
    }
    return ask({{"type", "open_recording"}, {"cols", 80}, {"rows", 24}});
  }
};

TEST_F(FullRecordingDiskFixture, ANewSessionIsRefusedAndAuditedWhenTheRecordingWouldNotFit) {
  std::filesystem::create_directory(dir.recordings());
  std::ofstream(dir.recordings() / "earlier.skr") << "x";
  for (const json& step : {login(), json{{"type", "authorize"}},
                           json{{"type", "credential"}, {"host_key", kHostKey}}}) {
    auto reply = ask(step);
    ASSERT_TRUE(reply && reply->body.value("ok", false)) << step.dump();
  }
  auto opened = ask({{"type", "open_recording"}, {"cols", 80}, {"rows", 24}});
  ASSERT_TRUE(opened);
  EXPECT_FALSE(opened->body.value("ok", true));
  EXPECT_FALSE(opened->fd);
  EXPECT_EQ(opened->body.value("message", ""),
            "the gateway's recording disk is full; new sessions are refused");
  std::string refused;
  std::int64_t sessions = -1;
  EXPECT_TRUE(t->store->read([&](storage::Store::Tx& tx) -> Result<void> {
    auto q = tx.prepare(
        "SELECT actor || ' ' || target || ' ' || details FROM audit_events "
        "WHERE action = 'session.refused'");
    if (auto row = q->step(); row && *row) refused = q->column_text(0);
    auto n = tx.prepare("SELECT count(*) FROM sessions");
    if (auto row = n->step(); row && *row) sessions = n->column_int(0);
    return ok();
  }));
  EXPECT_EQ(sessions, 0);  // no row and no file: the session never started
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.recordings()),
                          std::filesystem::directory_iterator()),
            1);
  EXPECT_NE(refused.find("alice root@web01 "), std::string::npos) << refused;
  EXPECT_NE(refused.find("\"reason\":\"recording disk full\""), std::string::npos) << refused;
  EXPECT_NE(refused.find("\"detail\":\"recordings take 1 bytes, max_total_bytes is 1\""),
            std::string::npos)
      << refused;
}

// The refusal alerts the operator's webhooks (the refused session's detail, never a secret).
TEST_F(FullRecordingDiskFixture, TheRefusalAlertsTheOperatorsWebhooks) {
  auto opened = open_refused();
  ASSERT_TRUE(opened);
  EXPECT_FALSE(opened->body.value("ok", true));
  const auto sent = webhooks.taken();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].event, "recording.disk_full");
  EXPECT_EQ(sent[0].text,
            "Sekisho: the recording disk is full; new sessions are refused (recordings take 1 "
            "bytes, max_total_bytes is 1)");
  EXPECT_EQ(sent[0].fields.value("user", ""), "alice");
  EXPECT_EQ(sent[0].fields.value("target", ""), "root@web01");
}

// Within the alert window (another session was refused a moment ago) no second alert goes out;
// the refusal itself is still audited.
TEST_F(FullRecordingDiskFixture, OneAlertPerWindowHoweverManySessionsAreRefused) {
  ASSERT_EQ(alerts.admit("recording disk").verdict, AuditRateLimit::Verdict::kAudit);
  auto opened = open_refused();
  ASSERT_TRUE(opened);
  EXPECT_FALSE(opened->body.value("ok", true));
  EXPECT_TRUE(webhooks.taken().empty());
  EXPECT_EQ(last_action(), "session.refused");
}

}  // namespace
}  // namespace sekisho::broker
