// The fixture of the CheckoutService tests: a real encrypted store with a test clock, users alice
// and dave (requesters) and bob (approver), root@web01 (password), deploy@web01 (key) and
// Administrator@win01 (rdp: no rotation connector), and a fake rotation trigger.
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <tuple>

#include "broker/access/checkout_service.hpp"
#include "storage/checkouts.hpp"
#include "storage/credentials.hpp"
#include "storage/hosts.hpp"
#include "storage/requests.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::broker::checkout_test {

using namespace std::chrono_literals;

inline constexpr std::string_view kRootPassword = "root-Secret-1";
inline constexpr std::string_view kAdminPassword = "Admin-Secret-2";

// Records what the service asks of rotation; can refuse either call.
class FakeTrigger final : public RotationTrigger {
 public:
  Result<void> rotate_soon(std::int64_t account_id, const std::string& reason,
                           const std::string& actor) override {
    std::lock_guard lock(mu);
    if (fail_rotate) return fail(ErrorCode::kIo, "rotation service stopped");
    rotations.emplace_back(account_id, reason, actor);
    return ok();
  }
  Result<void> await_settled(std::int64_t account_id, std::chrono::milliseconds limit) override {
    std::lock_guard lock(mu);
    settled.emplace_back(account_id, limit);
    if (!settle_error.empty()) return fail(ErrorCode::kUnavailable, settle_error);
    return ok();
  }
  std::mutex mu;
  bool fail_rotate = false;
  std::string settle_error;
  std::vector<std::tuple<std::int64_t, std::string, std::string>> rotations;
  std::vector<std::pair<std::int64_t, std::chrono::milliseconds>> settled;
};

class CheckoutServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = testing::make_test_store();
    approval::Policy policy = approval::default_policy();
    policy.rules[0].max_duration = 8h;
    requests_ = std::make_unique<RequestService>(*t_->store, *t_->log, policy, nullptr, t_->clock);
    make_service({});
    alice_ = add_user("alice", {"requester"});
    dave_ = add_user("dave", {"requester"});
    bob_ = add_user("bob", {"approver"});
    ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto web = storage::insert_host(tx, testing::test_host("web01"));
      if (!web) return tl::make_unexpected(web.error());
      auto root = storage::add_account(tx, *web, "root", "password", Secret::copy_of(kRootPassword),
                                       std::nullopt, "2026-01-01T00:00:00.000Z");
      if (!root) return tl::make_unexpected(root.error());
      root_id_ = *root;
      auto deploy = storage::add_account(tx, *web, "deploy", "key",
                                         Secret::copy_of(std::string_view("-----BEGIN KEY-----")),
                                         std::nullopt, "2026-01-01T00:00:00.000Z");
      if (!deploy) return tl::make_unexpected(deploy.error());
      storage::HostRecord win = testing::test_host("win01");
      win.protocol = "rdp";
      win.port = 3389;
      auto w = storage::insert_host(tx, win);
      if (!w) return tl::make_unexpected(w.error());
      auto admin =
          storage::add_account(tx, *w, "Administrator", "password", Secret::copy_of(kAdminPassword),
                               std::nullopt, "2026-01-01T00:00:00.000Z");
      if (!admin) return tl::make_unexpected(admin.error());
      return ok();
    }));
  }

  void make_service(CheckoutRules rules) {
    svc_ = std::make_unique<CheckoutService>(*t_->store, *t_->log, *requests_, trigger_,
                                             std::move(rules), t_->clock);
  }

  Caller add_user(const std::string& name, std::vector<std::string> roles) {
    std::int64_t id = 0;
    EXPECT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::create_user(tx, {name, "x", roles, false, "2026-01-01T00:00:00.000Z"});
      if (!r) return tl::make_unexpected(r.error());
      id = *r;
      return ok();
    }));
    Caller c;
    c.user_id = id;
    c.name = name;
    c.roles = std::move(roles);
    return c;
  }

  // A request of `who` for `target`, approved by bob.
  std::string approved(const Caller& who, const std::string& target = "root@web01",
                       approval::Mode mode = approval::Mode::kCheckout,
                       std::chrono::seconds duration = 1h) {
    CreateRequest r;
    r.target = target;
    r.reason = "rotate the certificates";
    r.duration = duration;
    r.mode = mode;
    auto created = requests_->create(who, r);
    EXPECT_TRUE(created) << created.error().message;
    if (!created) return "";
    auto reviewed = requests_->review(bob_, created->row.id, approval::Decision::kApprove, "ok");
    EXPECT_TRUE(reviewed) << reviewed.error().message;
    return created->row.id;
  }

  std::string state_of(const std::string& id) {
    std::string state;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::find_request(tx, id);
      if (!r) return tl::make_unexpected(r.error());
      state = (*r)->state;
      return ok();
    }));
    return state;
  }

  std::string rotation_due(const std::string& host, const std::string& account) {
    std::string due;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::find_account_row(tx, host, account);
      if (!r) return tl::make_unexpected(r.error());
      due = (*r)->rotation_due;
      return ok();
    }));
    return due;
  }

  std::optional<storage::CheckoutRow> checkout_row(const std::string& id) {
    std::optional<storage::CheckoutRow> row;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto r = storage::find_checkout(tx, id);
      if (!r) return tl::make_unexpected(r.error());
      row = *r;
      return ok();
    }));
    return row;
  }

  struct AuditRow {
    std::string actor, action, target;
    nlohmann::json details;
  };
  std::vector<AuditRow> audit(const std::string& prefix) {
    std::vector<AuditRow> out;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s =
          tx.prepare("SELECT actor, action, target, details FROM audit_events WHERE action LIKE '" +
                     prefix + "%' ORDER BY seq");
      while (*s->step()) {
        out.push_back({s->column_text(0), s->column_text(1), s->column_text(2),
                       nlohmann::json::parse(s->column_text(3))});
      }
      return ok();
    }));
    return out;
  }

  // Every audit row, as stored, holds neither vaulted password.
  void expect_no_secret_in_audit() {
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare("SELECT actor || action || target || details FROM audit_events");
      int rows = 0;
      while (*s->step()) {
        const std::string text = s->column_text(0);
        EXPECT_EQ(text.find(kRootPassword), std::string::npos) << "an audit row holds the secret";
        EXPECT_EQ(text.find(kAdminPassword), std::string::npos) << "an audit row holds the secret";
        ++rows;
      }
      EXPECT_GT(rows, 0);
      return ok();
    }));
  }

  std::unique_ptr<testing::TestStore> t_;
  FakeTrigger trigger_;
  std::unique_ptr<RequestService> requests_;
  std::unique_ptr<CheckoutService> svc_;
  Caller alice_, dave_, bob_;
  std::int64_t root_id_ = 0;
};

}  // namespace sekisho::broker::checkout_test
