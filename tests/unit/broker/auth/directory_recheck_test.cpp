// DirectoryRecheck over a real encrypted store, a test clock and a scripted directory: leavers
// are cut off (tokens, sessions, requests; audited), demoted users lose roles from their tokens,
// a directory that cannot answer changes nothing, and passes run only when due.
#include "broker/auth/directory_recheck.hpp"

#include <gtest/gtest.h>

#include "base/crypto.hpp"
#include "storage/api_tokens.hpp"
#include "storage/hosts.hpp"
#include "storage/requests.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"
#include "tests/unit/broker/auth/scripted_directory.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;

using testing::ScriptedDirectory;

class DirectoryRecheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = testing::make_test_store();
    requests_ = std::make_unique<RequestService>(*t_->store, *t_->log, approval::default_policy(),
                                                 nullptr, t_->clock);
    ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto host = storage::insert_host(tx, testing::test_host());
      if (!host) return tl::make_unexpected(host.error());
      auto acct = storage::add_account(tx, *host, "root", "password",
                                       Secret::copy_of(std::string_view("root-Secret-1")),
                                       std::nullopt, "2026-01-01T00:00:00.000Z");
      if (!acct) return tl::make_unexpected(acct.error());
      return ok();
    }));
    CutOffTargets targets{*t_->store, *t_->log, requests_.get(),
                          [this](const std::string& user, const std::string& reason) {
                            ended_.emplace_back(user, reason);
                            return std::size_t{1};
                          }};
    recheck_ = std::make_unique<DirectoryRecheck>(targets, dir_, t_->clock, 300s);
  }

  // A user row of `source` holding one token with `roles`.
  Caller holder(const std::string& name, const std::string& source,
                std::vector<std::string> roles) {
    Caller c;
    c.name = name;
    c.roles = roles;
    EXPECT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      if (source == "ldap") {
        auto id = storage::ensure_directory_user(tx, name, "2026-01-01T00:00:00.000Z");
        if (!id) return tl::make_unexpected(id.error());
        c.user_id = *id;
      } else {
        auto id = storage::create_user(tx, {name, "x", roles, false, "2026-01-01T00:00:00.000Z"});
        if (!id) return tl::make_unexpected(id.error());
        c.user_id = *id;
      }
      return storage::insert_token(tx, sha256(as_bytes(name + "-token")), c.user_id, roles,
                                   storage::TokenScope::kFull, source, format_time(t_->clock.now()),
                                   format_time(t_->clock.now() + 8h));
    }));
    return c;
  }

  static ldap::Identity person(const std::string& name, std::vector<std::string> roles,
                               ldap::StaffStatus status = ldap::StaffStatus::kActive) {
    return ScriptedDirectory::person(name, std::move(roles), status);
  }

  std::optional<storage::TokenRecord> token_of(const std::string& name) {
    std::optional<storage::TokenRecord> out;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto t = storage::find_token(tx, sha256(as_bytes(name + "-token")));
      if (!t) return tl::make_unexpected(t.error());
      out = *t;
      return ok();
    }));
    return out;
  }

  std::vector<std::string> audit(const std::string& prefix) {
    std::vector<std::string> out;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare(
          "SELECT action || ' ' || target || ' ' || details FROM audit_events "
          "WHERE action LIKE ? ORDER BY seq");
      s->bind(1, prefix + "%");
      while (*s->step()) out.push_back(s->column_text(0));
      return ok();
    }));
    return out;
  }

  std::string stored_state(const std::string& id) {
    std::string state;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::find_request(tx, id);
      if (!r) return tl::make_unexpected(r.error());
      state = (*r)->state;
      return ok();
    }));
    return state;
  }

  std::string request_for(const Caller& c) {
    CreateRequest r;
    r.target = "root@web01";
    r.reason = "patch openssl";
    r.duration = 1h;
    auto v = requests_->create(c, r);
    EXPECT_TRUE(v) << (v ? "" : v.error().message);
    return v ? v->row.id : "";
  }

  std::unique_ptr<testing::TestStore> t_;
  ScriptedDirectory dir_;
  std::unique_ptr<RequestService> requests_;
  std::unique_ptr<DirectoryRecheck> recheck_;
  std::vector<std::pair<std::string, std::string>> ended_;
};

TEST_F(DirectoryRecheckTest, DepartedUserIsCutOffOnceAndAudited) {
  const Caller dan = holder("dan", "ldap", {"requester"});
  const std::string id = request_for(dan);
  dir_.people["dan"] = person("dan", {"requester"}, ldap::StaffStatus::kDeparted);

  auto report = recheck_->run();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->cut_off, 1);
  EXPECT_TRUE(token_of("dan")->revoked);
  EXPECT_EQ(stored_state(id), "cancelled");
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0], std::make_pair(std::string("dan"), std::string("user disabled")));
  const auto cut = audit("user.cut_off");
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_NE(cut[0].find("dan"), std::string::npos);
  EXPECT_NE(cut[0].find("\"reason\":\"departed in the directory\""), std::string::npos) << cut[0];
  const auto cancelled = audit("request.cancelled");
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_NE(cancelled[0].find("\"reason\":\"user disabled\""), std::string::npos) << cancelled[0];

  // Nothing is left to hold: the next pass does not look at dan again.
  ended_.clear();
  report = recheck_->run();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->checked, 0);
  EXPECT_TRUE(ended_.empty());
  EXPECT_EQ(audit("user.cut_off").size(), 1u);
}

TEST_F(DirectoryRecheckTest, UserGoneFromTheDirectoryIsCutOff) {
  holder("gus", "ldap", {"requester"});
  auto report = recheck_->run();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->cut_off, 1);
  EXPECT_TRUE(token_of("gus")->revoked);
  EXPECT_NE(audit("user.cut_off")[0].find("not in the directory"), std::string::npos);
}

TEST_F(DirectoryRecheckTest, DemotedApproverLosesTheRoleFromTheirToken) {
  holder("amy", "ldap", {"approver", "requester"});
  dir_.people["amy"] = person("amy", {"requester"});
  auto report = recheck_->run();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->reduced, 1);
  EXPECT_EQ(report->cut_off, 0);
  const auto token = token_of("amy");
  EXPECT_FALSE(token->revoked);
  EXPECT_EQ(token->roles, std::vector<std::string>{"requester"});
  EXPECT_EQ(audit("user.roles_reduced").size(), 1u);
  EXPECT_TRUE(ended_.empty());

  // A role the directory gives later is not added to an old token (a new login is needed).
  dir_.people["amy"] = person("amy", {"approver", "requester", "operator"});
  report = recheck_->run();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->reduced, 0);
  EXPECT_EQ(token_of("amy")->roles, std::vector<std::string>{"requester"});
}

TEST_F(DirectoryRecheckTest, DirectoryDownChangesNothing) {
  const Caller dan = holder("dan", "ldap", {"requester"});
  const std::string id = request_for(dan);
  dir_.down = true;
  auto report = recheck_->run();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->unreachable, 1);
  EXPECT_EQ(report->cut_off, 0);
  EXPECT_FALSE(token_of("dan")->revoked);
  EXPECT_EQ(stored_state(id), "pending");
  EXPECT_TRUE(ended_.empty());
  EXPECT_TRUE(audit("user.").empty());
}

TEST_F(DirectoryRecheckTest, LocalUsersNeverAskTheDirectoryAndDisabledOnesAreCutOff) {
  const Caller lou = holder("lou", "local", {"requester"});
  const Caller liz = holder("liz", "local", {"requester"});
  ASSERT_TRUE(t_->store->transact(
      [&](storage::Store::Tx& tx) { return storage::set_disabled(tx, liz.user_id, true); }));
  dir_.down = true;
  auto report = recheck_->run();
  ASSERT_TRUE(report);
  EXPECT_EQ(dir_.lookups, 0);
  EXPECT_EQ(report->cut_off, 1);
  EXPECT_FALSE(token_of("lou")->revoked);
  ASSERT_EQ(ended_.size(), 1u);
  EXPECT_EQ(ended_[0].first, "liz");
  (void)lou;
}

TEST_F(DirectoryRecheckTest, RunsWhenDueOnly) {
  holder("amy", "ldap", {"requester"});
  dir_.people["amy"] = person("amy", {"requester"});
  auto first = recheck_->run_if_due();
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->has_value());
  t_->clock.advance(299s);
  auto early = recheck_->run_if_due();
  ASSERT_TRUE(early);
  EXPECT_FALSE(early->has_value());
  t_->clock.advance(1s);
  auto due = recheck_->run_if_due();
  ASSERT_TRUE(due);
  EXPECT_TRUE(due->has_value());
  EXPECT_EQ(dir_.lookups, 2);
}

}  // namespace
}  // namespace sekisho::broker
