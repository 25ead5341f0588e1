// RotationService and RotationJobs over a real encrypted store with a scripted fleet (FakeFleet):
// serialisation per account, the concurrency bound, owed and scheduled rotations, accounts left
// alone (checked out, manual), the audit trail and its freedom from secrets.
#include "broker/rotation/rotation_service.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "broker/rotation/rotation_jobs.hpp"
#include "storage/checkouts.hpp"
#include "storage/credentials.hpp"
#include "storage/hosts.hpp"
#include "storage/jobs.hpp"
#include "storage/requests.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"
#include "tests/unit/broker/rotation/fake_host.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;
using storage::Store;

class RecordingNotifier final : public Notifier {
 public:
  void notify(Notification n) override {
    std::lock_guard lock(mu);
    events.push_back(n.event);
  }
  std::mutex mu;
  std::vector<std::string> events;
};

class RotationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { t_ = testing::make_test_store(); }

  // root@NAME with password "root-Secret-NAME", vaulted `age` before the test clock's now.
  std::int64_t add_host(const std::string& name, const std::string& protocol = "ssh",
                        std::optional<std::int64_t> every = std::nullopt,
                        std::chrono::seconds age = 1h) {
    std::int64_t id = 0;
    EXPECT_TRUE(t_->store->transact([&](Store::Tx& tx) -> Result<void> {
      auto h = testing::test_host(name);
      h.protocol = protocol;
      auto host = storage::insert_host(tx, h);
      if (!host) return tl::make_unexpected(host.error());
      auto acct = storage::add_account(tx, *host, "root", "password",
                                       Secret::copy_of("root-Secret-" + name), every,
                                       format_time(t_->clock.now() - age));
      if (!acct) return tl::make_unexpected(acct.error());
      id = *acct;
      return ok();
    }));
    fleet_.set_password("root@" + name, "root-Secret-" + name);
    return id;
  }

  std::unique_ptr<RotationService> make_service(int concurrency = 4) {
    settings_.concurrency = concurrency;
    RotationServiceContext ctx{*t_->store, *t_->log, t_->clock, settings_, {}, &notes_};
    ctx.settle_after_start = std::chrono::milliseconds(0);  // no worker of a previous run here
    ctx.connector_for = [this](const std::string& p) -> rotation::Connector* {
      return p == "ssh" ? &fleet_ : nullptr;
    };
    return std::make_unique<RotationService>(std::move(ctx));
  }

  // The user "alice" (operator), created on first use; her id.
  std::int64_t add_operator() {
    std::int64_t id = 0;
    EXPECT_TRUE(t_->store->transact([&](Store::Tx& tx) -> Result<void> {
      auto found = storage::find_user(tx, "alice");
      if (!found) return tl::make_unexpected(found.error());
      if (found->has_value()) {
        id = (*found)->id;
        return ok();
      }
      auto user =
          storage::create_user(tx, {"alice", "x", {"operator"}, false, "2026-01-01T00:00:00.000Z"});
      if (!user) return tl::make_unexpected(user.error());
      id = *user;
      return ok();
    }));
    return id;
  }

  std::optional<storage::AccountRow> row(const std::string& host) {
    std::optional<storage::AccountRow> out;
    EXPECT_TRUE(t_->store->read([&](Store::Tx& tx) -> Result<void> {
      auto r = storage::find_account_row(tx, host, "root");
      if (!r) return tl::make_unexpected(r.error());
      out = *r;
      return ok();
    }));
    return out;
  }

  std::string vault_current(std::int64_t id) {
    std::string out;
    EXPECT_TRUE(t_->store->read([&](Store::Tx& tx) -> Result<void> {
      auto v = storage::load_versions(tx, id);
      if (!v) return tl::make_unexpected(v.error());
      if (v->current) out = std::string(v->current->view());
      return ok();
    }));
    return out;
  }

  // (actor, action, target, details) of every rotation.* event, in order.
  std::vector<std::vector<std::string>> rotation_events() {
    std::vector<std::vector<std::string>> out;
    EXPECT_TRUE(t_->store->read([&](Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare(
          "SELECT actor, action, target, details FROM audit_events "
          "WHERE action LIKE 'rotation.%' ORDER BY seq");
      if (!s) return tl::make_unexpected(s.error());
      while (*s->step()) {
        out.push_back({s->column_text(0), s->column_text(1), s->column_text(2), s->column_text(3)});
      }
      return ok();
    }));
    return out;
  }

  std::vector<std::string> actions() {
    std::vector<std::string> out;
    for (const auto& e : rotation_events()) out.push_back(e[1]);
    return out;
  }

  // Whether `text` appears anywhere in the audit log (it must not, for a secret).
  bool audit_contains(const std::string& text) {
    bool found = false;
    EXPECT_TRUE(t_->store->read([&](Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare("SELECT actor || action || target || details FROM audit_events");
      if (!s) return tl::make_unexpected(s.error());
      while (*s->step()) found = found || s->column_text(0).find(text) != std::string::npos;
      return ok();
    }));
    return found;
  }

  std::unique_ptr<testing::TestStore> t_;
  testing::FakeFleet fleet_;
  RecordingNotifier notes_;
  rotation::RotationSettings settings_;
};

TEST_F(RotationServiceTest, RotatesAuditsEveryStepAndLogsNoSecret) {
  const auto id = add_host("web01");
  const std::string fingerprint_before = row("web01")->fingerprint;
  auto svc = make_service();
  const AccountOutcome out = svc->rotate_account(id, "alice", "requested by alice");
  EXPECT_EQ(out.outcome, "rotated");
  // `accounts list` shows that the password changed, without it.
  EXPECT_EQ(row("web01")->fingerprint.size(), 8u);
  EXPECT_NE(row("web01")->fingerprint, fingerprint_before);
  EXPECT_FALSE(out.failed);
  const std::string now_current = vault_current(id);
  EXPECT_EQ(now_current.size(), 32u);
  EXPECT_TRUE(now_current == fleet_.password("root@web01")) << "the host takes the vault's current";
  EXPECT_FALSE(now_current == "root-Secret-web01");
  EXPECT_EQ(actions(),
            (std::vector<std::string>{"rotation.start", "rotation.changed", "rotation.verified"}));
  for (const auto& e : rotation_events()) {
    EXPECT_EQ(e[0], "alice");
    EXPECT_EQ(e[2], "root@web01");
    EXPECT_NE(e[3].find("requested by alice"), std::string::npos);
  }
  EXPECT_FALSE(audit_contains(now_current)) << "the new password is in the audit log";
  EXPECT_FALSE(audit_contains("root-Secret-web01")) << "the old password is in the audit log";
  EXPECT_TRUE(notes_.events.empty());
}

TEST_F(RotationServiceTest, NeverTwoRotationsOfOneAccountAtOnce) {
  const auto id = add_host("web01");
  auto svc = make_service(4);
  fleet_.hold();
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] { (void)svc->rotate_account(id, "alice", "test"); });
  }
  // Without the per-account turn a second change would start while the first is held.
  EXPECT_FALSE(fleet_.wait_in_flight(2, 500ms));
  fleet_.release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(fleet_.max_in_flight_per_target(), 1);
  EXPECT_EQ(fleet_.changes(), 3);
  EXPECT_TRUE(vault_current(id) == fleet_.password("root@web01"));
}

TEST_F(RotationServiceTest, AtMostConcurrencyAccountsAtOnce) {
  std::vector<std::int64_t> ids;
  for (int i = 1; i <= 5; ++i) ids.push_back(add_host("web0" + std::to_string(i)));
  auto svc = make_service(2);
  fleet_.hold();
  std::vector<std::thread> threads;
  for (auto id : ids) {
    threads.emplace_back([&svc, id] { (void)svc->rotate_account(id, "alice", "test"); });
  }
  EXPECT_TRUE(fleet_.wait_in_flight(2, 5s));
  EXPECT_FALSE(fleet_.wait_in_flight(3, 500ms));
  fleet_.release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(fleet_.max_in_flight(), 2);
  EXPECT_EQ(fleet_.changes(), 5);
}

TEST_F(RotationServiceTest, OwedRotationSurvivesARestartOfTheService) {
  const auto id = add_host("web01");
  {
    // Never started: the debt is stored, then the "daemon" dies before any worker ran.
    auto svc = make_service();
    ASSERT_TRUE(svc->rotate_soon(id, "checkin", "alice"));
  }
  EXPECT_EQ(fleet_.changes(), 0);
  EXPECT_EQ(row("web01")->rotation_due, "checkin");
  auto svc = make_service();
  ASSERT_TRUE(svc->start());
  ASSERT_TRUE(fleet_.wait_changes(1, 10s));
  svc->stop();
  EXPECT_TRUE(vault_current(id) == fleet_.password("root@web01"));
  EXPECT_FALSE(vault_current(id) == "root-Secret-web01");
  EXPECT_EQ(row("web01")->rotation_due, "");
  const auto events = rotation_events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()[1], "rotation.verified");
  EXPECT_EQ(events.back()[0], "system");
  EXPECT_NE(events.back()[3].find("checkin"), std::string::npos);
}

TEST_F(RotationServiceTest, SweepQueuesScheduledAccountsThatAreDueOnly) {
  add_host("web01", "ssh", 86400, 48h);  // every day, vaulted two days ago: due
  add_host("web02", "ssh", 86400, 12h);  // every day, vaulted 12 hours ago: not yet
  add_host("web03");                     // no schedule
  auto svc = make_service();
  auto queued = svc->sweep();
  ASSERT_TRUE(queued);
  EXPECT_EQ(*queued, 1);
  ASSERT_TRUE(svc->start());
  ASSERT_TRUE(fleet_.wait_changes(1, 10s));
  svc->stop();
  EXPECT_FALSE(fleet_.password("root@web01") == "root-Secret-web01");
  EXPECT_TRUE(fleet_.password("root@web02") == "root-Secret-web02");
  EXPECT_TRUE(fleet_.password("root@web03") == "root-Secret-web03");
  EXPECT_NE(row("web01")->last_rotated_at, "");
}

TEST_F(RotationServiceTest, CheckedOutAccountIsLeftToItsHolder) {
  const auto id = add_host("web01", "ssh", 86400, 48h);
  EXPECT_TRUE(t_->store->transact([&](Store::Tx& tx) -> Result<void> {
    auto user =
        storage::create_user(tx, {"alice", "x", {"requester"}, false, "2026-01-01T00:00:00.000Z"});
    if (!user) return tl::make_unexpected(user.error());
    storage::RequestRow req;
    req.id = "r-000000000001";
    req.requester_id = *user;
    req.account_id = id;
    req.reason = "test";
    req.mode = "checkout";
    req.state = "active";
    req.start_at = req.created_at = req.updated_at = format_time(t_->clock.now() - 1h);
    req.end_at = format_time(t_->clock.now() + 1h);
    req.policy = "default";
    if (auto r = storage::insert_request(tx, req); !r) return r;
    auto c = storage::open_checkout(tx, req.id, id, *user, req.start_at, req.end_at);
    if (!c) return tl::make_unexpected(c.error());
    return storage::set_rotation_due(tx, id, "seen-by bob");
  }));
  auto svc = make_service();
  auto queued = svc->sweep();
  ASSERT_TRUE(queued);
  EXPECT_EQ(*queued, 0);
  const AccountOutcome out = svc->rotate_account(id, "carol", "requested by carol");
  EXPECT_EQ(out.outcome, "skipped");
  EXPECT_FALSE(out.failed);
  EXPECT_NE(out.message.find("checked out by alice"), std::string::npos);
  EXPECT_EQ(fleet_.changes(), 0);
  EXPECT_TRUE(actions().empty());
}

TEST_F(RotationServiceTest, RejectedPasswordKeepsTheOldOneAuditsAndNotifies) {
  const auto id = add_host("web01");
  fleet_.script_change(rotation::ChangeOutcome::kPasswordRejected,
                       "BAD PASSWORD: it is based on a dictionary word");
  auto svc = make_service();
  const AccountOutcome out = svc->rotate_account(id, "alice", "requested by alice");
  EXPECT_EQ(out.outcome, "failed");
  EXPECT_TRUE(out.failed);
  EXPECT_NE(out.message.find("BAD PASSWORD"), std::string::npos);
  EXPECT_TRUE(vault_current(id) == "root-Secret-web01");
  EXPECT_TRUE(fleet_.password("root@web01") == "root-Secret-web01");
  EXPECT_EQ(actions().back(), "rotation.failed");
  EXPECT_EQ(notes_.events, std::vector<std::string>{"rotation.failed"});
  EXPECT_NE(row("web01")->last_error.find("BAD PASSWORD"), std::string::npos);
}

TEST_F(RotationServiceTest, AwaitSettledRecoversAnAccountInDoubtBeforeUse) {
  const auto id = add_host("web01");
  // A crash after the host took the pending password and before the vault promoted it.
  ASSERT_TRUE(t_->store->transact([&](Store::Tx& tx) {
    return storage::store_pending(tx, id, Secret::copy_of(std::string_view("pending-Secret-1")),
                                  format_time(t_->clock.now()));
  }));
  fleet_.set_password("root@web01", "pending-Secret-1");
  EXPECT_EQ(row("web01")->status, "pending");
  auto svc = make_service();
  ASSERT_TRUE(svc->await_settled(id, 10s));
  EXPECT_TRUE(vault_current(id) == "pending-Secret-1");
  EXPECT_EQ(row("web01")->status, "current");
  EXPECT_EQ(actions(), std::vector<std::string>{"rotation.recovered"});
}

TEST_F(RotationServiceTest, AwaitSettledRefusesAnAccountMarkedUnknown) {
  const auto id = add_host("web01");
  ASSERT_TRUE(t_->store->transact(
      [&](Store::Tx& tx) { return storage::mark_unknown(tx, id, "neither password logs in"); }));
  auto svc = make_service();
  auto r = svc->await_settled(id, 1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message, "root@web01 is marked unknown: neither password logs in");
}

TEST_F(RotationServiceTest, AccountWithoutConnectorIsManualAndNeverRotated) {
  const auto id = add_host("win01", "rdp", 86400, 48h);
  auto svc = make_service();
  EXPECT_FALSE(svc->rotatable(*row("win01")));
  auto queued = svc->sweep();
  ASSERT_TRUE(queued);
  EXPECT_EQ(*queued, 0);
  const AccountOutcome out = svc->rotate_account(id, "alice", "requested by alice");
  EXPECT_EQ(out.outcome, "manual");
  EXPECT_FALSE(out.failed);
  EXPECT_TRUE(actions().empty());
  EXPECT_TRUE(vault_current(id) == "root-Secret-win01");
}

TEST_F(RotationServiceTest, AccountsOfARetiredHostAreLeftAlone) {
  const auto id = add_host("web01", "ssh", 86400, 48h);
  ASSERT_TRUE(t_->store->transact([&](Store::Tx& tx) {
    return storage::retire_host(tx, "web01", format_time(t_->clock.now()));
  }));
  auto svc = make_service();
  EXPECT_FALSE(svc->rotatable(*row("web01")));
  auto queued = svc->sweep();
  ASSERT_TRUE(queued);
  EXPECT_EQ(*queued, 0);
  EXPECT_EQ(svc->rotate_account(id, "alice", "requested by alice").outcome, "manual");
  EXPECT_EQ(fleet_.changes(), 0);
}

// The job's row once it left "running" (bounded wait).
std::optional<storage::JobRow> finished_job(Store& store, const std::string& id) {
  for (int i = 0; i < 1000; ++i) {
    std::optional<storage::JobRow> job;
    EXPECT_TRUE(store.read([&](Store::Tx& tx) -> Result<void> {
      auto j = storage::find_job(tx, id);
      if (!j) return tl::make_unexpected(j.error());
      job = *j;
      return ok();
    }));
    if (job && job->state != "running") return job;
    std::this_thread::sleep_for(10ms);
  }
  return std::nullopt;
}

TEST_F(RotationServiceTest, JobRotatesAllReportsEachAccountAndCountsFailures) {
  for (int i = 1; i <= 4; ++i) add_host("web0" + std::to_string(i));
  add_host("win01", "rdp");
  fleet_.set_password("root@web03", "someone-changed-it");  // the vaulted one is refused
  auto svc = make_service(2);
  RotationJobs jobs(*svc, *t_->store, *t_->log, t_->clock);
  RotationSelection all;
  all.all = true;
  auto id = jobs.start(add_operator(), "alice", all);
  ASSERT_TRUE(id) << id.error().message;
  auto job = finished_job(*t_->store, *id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, "failed");
  EXPECT_EQ(job->total, 5);
  EXPECT_EQ(job->done, 5);
  EXPECT_EQ(job->failed, 1);
  EXPECT_EQ(job->description, "rotate --all");
  const auto result = nlohmann::json::parse(job->result);
  std::map<std::string, std::string> outcomes;
  for (const auto& a : result["accounts"]) {
    outcomes[a["host"].get<std::string>()] = a["outcome"].get<std::string>();
  }
  EXPECT_EQ(outcomes, (std::map<std::string, std::string>{{"web01", "rotated"},
                                                          {"web02", "rotated"},
                                                          {"web03", "failed"},
                                                          {"web04", "rotated"},
                                                          {"win01", "manual"}}));
  EXPECT_EQ(row("web03")->rotation_due, "requested by alice") << "a failed rotation stays owed";
  EXPECT_EQ(row("web01")->rotation_due, "");
}

TEST_F(RotationServiceTest, JobOfAHostWithOnlyManualAccountsIsRefused) {
  add_host("win01", "rdp");
  auto svc = make_service();
  RotationJobs jobs(*svc, *t_->store, *t_->log, t_->clock);
  RotationSelection win01;
  win01.host = "win01";
  auto id = jobs.start(add_operator(), "alice", win01);
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(id.error().message,
            "win01: no account there can be rotated (manual: no rotation connector for rdp "
            "hosts); change it by hand");
  RotationSelection nope;
  nope.host = "nope";
  auto missing = jobs.start(add_operator(), "alice", nope);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "no host nope");
}

}  // namespace
}  // namespace sekisho::broker
