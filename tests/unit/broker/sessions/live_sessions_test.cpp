// LiveSessions with fake sessions (no worker, no socket) on the real test store: the window
// warning, the close at the window end or when the request ends early, the forced end after the
// grace, and the kills by session id and by user, with their audit events.
#include "broker/sessions/live_sessions.hpp"

#include <gtest/gtest.h>

#include "broker/sessions/session_window.hpp"
#include "storage/hosts.hpp"
#include "storage/requests.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A session whose controls only record what they were asked. `accept` false: every ask is "not
// now", as when the SSH worker's socket is busy.
class FakeSession final : public LiveSession {
 public:
  FakeSession(std::string id, std::string who, std::string request, TimePoint end) {
    session_id = std::move(id);
    user = std::move(who);
    request_id = std::move(request);
    target = "root@web01";
    window_end = end;
  }
  bool notify_user(const std::string& text) override {
    if (accept) notices.push_back(text);
    return accept;
  }
  bool ask_close(const std::string& reason) override {
    ++close_asks;
    if (accept) closes.push_back(reason);
    return accept;
  }
  void force_end() override { ++forced; }

  // Read under mu (LiveSessions calls the controls under it).
  bool accept = true;
  std::vector<std::string> notices, closes;
  int close_asks = 0;
  int forced = 0;
};

class LiveSessionsTest : public ::testing::Test {
 protected:
  std::unique_ptr<testing::TestStore> t_ = testing::make_test_store();
  LiveSessions live_{{*t_->store, *t_->log, t_->clock, 300s}};
  const TimePoint start_ = t_->clock.now();

  std::shared_ptr<FakeSession> add(const std::string& id, const std::string& user, TimePoint end,
                                   const std::string& request = "req-none") {
    auto s = std::make_shared<FakeSession>(id, user, request, end);
    live_.add(s);
    return s;
  }
  // The audit trail's actions and details, oldest first.
  std::vector<std::pair<std::string, json>> events() {
    std::vector<std::pair<std::string, json>> out;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto q = tx.prepare("SELECT action, details FROM audit_events ORDER BY seq");
      if (!q) return tl::make_unexpected(q.error());
      while (*q->step()) out.emplace_back(q->column_text(0), json::parse(q->column_text(1)));
      return ok();
    }));
    return out;
  }
  std::vector<std::string> actions() {
    std::vector<std::string> out;
    for (const auto& [action, details] : events()) out.push_back(action);
    return out;
  }
  // A stored request of user alice for root@web01 in `state`.
  void store_request(const std::string& id, const std::string& state) {
    ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto user = storage::create_user(tx, {"alice", "x", {"requester"}, false, "2026-01-01"});
      if (!user) return tl::make_unexpected(user.error());
      auto host = storage::insert_host(tx, testing::test_host());
      if (!host) return tl::make_unexpected(host.error());
      auto account = storage::add_account(tx, *host, "root", "password",
                                          Secret::copy_of(std::string_view("pw")), std::nullopt,
                                          "2026-01-01T00:00:00.000Z");
      if (!account) return tl::make_unexpected(account.error());
      storage::RequestRow row;
      row.id = id;
      row.requester_id = *user;
      row.account_id = *account;
      row.reason = "patch";
      row.mode = "session";
      row.state = state;
      row.start_at = row.created_at = row.updated_at = "2026-01-01T00:00:00.000Z";
      row.end_at = "2099-01-01T00:00:00.000Z";
      row.policy = "default";
      return storage::insert_request(tx, row);
    }));
  }
};

TEST_F(LiveSessionsTest, WarnsOnceWithinWarnBefore) {
  auto s = add("sess-1", "alice", start_ + 10min);
  live_.check_windows();
  EXPECT_TRUE(s->notices.empty());  // ten minutes left, warn_before five
  t_->clock.advance(5min);
  live_.check_windows();
  live_.check_windows();
  ASSERT_EQ(s->notices.size(), 1u);
  EXPECT_EQ(s->notices[0], window_warning("root@web01", s->window_end, start_ + 5min));
  EXPECT_TRUE(s->closes.empty());
  EXPECT_EQ(actions(), std::vector<std::string>{"session.warned"});
  EXPECT_EQ(events()[0].second["session"], "sess-1");
}

TEST_F(LiveSessionsTest, AWarningThatCannotGoNowIsTriedAgain) {
  auto s = add("sess-1", "alice", start_ + 1min);
  s->accept = false;
  live_.check_windows();
  EXPECT_TRUE(actions().empty());  // not warned: nothing audited
  s->accept = true;
  live_.check_windows();
  EXPECT_EQ(s->notices.size(), 1u);
  EXPECT_EQ(actions(), std::vector<std::string>{"session.warned"});
}

TEST_F(LiveSessionsTest, ClosesAtTheWindowEndAndForcesTheEndAfterTheGrace) {
  auto s = add("sess-1", "alice", start_ + 1min);
  s->accept = false;  // the session ignores everything
  t_->clock.advance(1min);
  live_.check_windows();
  EXPECT_EQ(s->close_asks, 1);
  EXPECT_EQ(s->forced, 0);
  t_->clock.advance(kCloseGrace - 1s);
  live_.check_windows();
  EXPECT_EQ(s->close_asks, 2);  // asked again each round until it goes
  EXPECT_EQ(s->forced, 0);
  t_->clock.advance(1s);
  live_.check_windows();
  live_.check_windows();
  EXPECT_EQ(s->forced, 1);  // once
  EXPECT_EQ(actions(), (std::vector<std::string>{"session.close", "session.worker_killed"}));
  EXPECT_EQ(events()[0].second["reason"], "approved window ended");
  EXPECT_EQ(events()[1].second["reason"], "approved window ended");
}

TEST_F(LiveSessionsTest, AClosedSessionIsAskedOnceAndLeftAloneOnceEnded) {
  auto s = add("sess-1", "alice", start_ + 1min);
  t_->clock.advance(1min);
  live_.check_windows();
  live_.check_windows();
  EXPECT_EQ(s->closes, std::vector<std::string>{"approved window ended"});
  {
    std::lock_guard lock(s->mu);
    s->ended = true;  // its gateway finished the row
  }
  t_->clock.advance(kCloseGrace);
  live_.check_windows();
  EXPECT_EQ(s->forced, 0);
  EXPECT_EQ(actions(), std::vector<std::string>{"session.close"});
}

TEST_F(LiveSessionsTest, ClosesTheSessionsOfARequestThatEndedEarly) {
  store_request("req-1", "cancelled");
  auto s = add("sess-1", "alice", start_ + 1h, "req-1");
  auto other = add("sess-2", "alice", start_ + 1h, "req-gone");  // no row: decided by time alone
  live_.check_windows();
  EXPECT_EQ(s->closes, std::vector<std::string>{"request req-1 cancelled"});
  EXPECT_TRUE(other->closes.empty());
  EXPECT_EQ(actions(), std::vector<std::string>{"session.close"});
}

TEST_F(LiveSessionsTest, KillsBySessionIdOnceAndRefusesUnknownIds) {
  auto s = add("sess-1", "alice", start_ + 1h);
  ASSERT_TRUE(live_.kill("sess-1", "killed by erin: test"));
  EXPECT_EQ(s->closes, std::vector<std::string>{"killed by erin: test"});
  auto again = live_.kill("sess-1", "killed by erin: twice");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(again.error().message, "session sess-1 is already being closed: killed by erin: test");
  auto unknown = live_.kill("sess-unknown-0000", "x");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(unknown.error().message, "no live SSH session sess-unknown-0000");
  EXPECT_TRUE(actions().empty());  // the API audits session.kill, not LiveSessions
  // The kill's grace: forced to end kCloseGrace after the kill, whatever the window.
  s->accept = false;
  t_->clock.advance(kCloseGrace);
  live_.check_windows();
  EXPECT_EQ(s->forced, 1);
  EXPECT_EQ(events().at(0).second["reason"], "killed by erin: test");
}

TEST_F(LiveSessionsTest, EndedUnfilledAndRemovedSessionsAreNotLive) {
  auto ended = add("sess-1", "alice", start_ + 1h);
  ended->ended = true;
  auto unfilled = add("", "alice", start_);  // its recording is not open yet
  auto removed = add("sess-3", "alice", start_ + 1h);
  live_.remove(removed.get());
  for (const char* id : {"sess-1", "", "sess-3"}) {
    auto r = live_.kill(id, "x");
    ASSERT_FALSE(r) << id;
    EXPECT_EQ(r.error().message, std::string("no live SSH session ") + id);
  }
  t_->clock.advance(1h);
  live_.check_windows();
  EXPECT_EQ(live_.end_sessions_of("alice", "user disabled"), 0u);
  EXPECT_TRUE(unfilled->closes.empty());
  EXPECT_TRUE(removed->closes.empty());
  EXPECT_TRUE(actions().empty());
}

TEST_F(LiveSessionsTest, EndsEverySessionOfAUserAndAuditsEach) {
  auto a1 = add("sess-1", "alice", start_ + 1h);
  auto a2 = add("sess-2", "alice", start_ + 1h);
  auto b = add("sess-3", "bob", start_ + 1h);
  a2->accept = false;  // its close goes on the next round
  EXPECT_EQ(live_.end_sessions_of("alice", "user disabled"), 2u);
  EXPECT_EQ(a1->closes, std::vector<std::string>{"user disabled"});
  EXPECT_TRUE(b->closes.empty());
  const auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].first, "session.close");
  EXPECT_EQ(ev[0].second["session"], "sess-1");
  EXPECT_EQ(ev[1].second["reason"], "user disabled");
  a2->accept = true;
  live_.check_windows();
  EXPECT_EQ(a2->closes, std::vector<std::string>{"user disabled"});
  // Already being closed: a second cut-off keeps the first reason and counts nothing.
  EXPECT_EQ(live_.end_sessions_of("alice", "user left"), 0u);
  EXPECT_EQ(events().size(), 2u);
}

}  // namespace
}  // namespace sekisho::broker
