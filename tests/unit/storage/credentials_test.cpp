#include "storage/credentials.hpp"

#include "storage/checkouts.hpp"
#include "tests/unit/storage/rotation_fixture.hpp"

namespace sekisho::storage {
namespace {

using Credentials = RotationStoreTest;

Secret pw(const std::string& text) { return Secret::copy_of(std::string_view(text)); }
AccountFilter filter(const std::string& host, const std::string& status, const std::string& group,
                     bool include_retired = false) {
  return AccountFilter{host, status, group, include_retired};
}
std::string text(const std::optional<Secret>& s) {
  return s ? std::string(reinterpret_cast<const char*>(s->data()), s->size()) : "<none>";
}

TEST_F(Credentials, StorePendingThenLoadShowsBothVersions) {
  ASSERT_TRUE(run([&](Store::Tx& tx) { return store_pending(tx, root01, pw("new-01"), kT0); }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto v = load_versions(tx, root01);
    EXPECT_TRUE(v) << error_of(v);
    EXPECT_EQ(v->kind, "password");
    EXPECT_EQ(text(v->current), "pw-web01");
    EXPECT_EQ(text(v->pending), "new-01");
    auto row = find_account_row(tx, "web01", "root");
    EXPECT_EQ((*row)->status, "pending");
    return ok();
  }));
}

TEST_F(Credentials, StorePendingRefusals) {
  auto second = [&](std::int64_t account, const std::string& secret) {
    Result<void> r = ok();
    EXPECT_TRUE(run([&](Store::Tx& tx) {
      r = store_pending(tx, account, pw(secret), kT0);
      return ok();
    }));
    return r;
  };
  // A password current on another host, then one pending on another host.
  auto used = second(root01, "pw-web02");
  ASSERT_FALSE(used);
  EXPECT_EQ(used.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(used.error().message,
            "this password is already vaulted for another host; every host must have its own");
  ASSERT_TRUE(second(root02, "pending-02"));
  EXPECT_EQ(error_of(second(root01, "pending-02")),
            "this password is already vaulted for another host; every host must have its own");
  auto twice = second(root02, "again-02");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(twice.error().message,
            "a rotation of account " + std::to_string(root02) + " is already pending");
  auto none = second(9999, "x");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(none.error().message, "no account 9999");
  EXPECT_EQ(error_of(second(root01, "")), "empty credential");
}

// The same host may reuse its own current password as pending (nothing to separate).
TEST_F(Credentials, SameHostPasswordIsNotRefused) {
  EXPECT_TRUE(run([&](Store::Tx& tx) { return store_pending(tx, root01, pw("pw-web01"), kT0); }));
}

// Each promote keeps exactly keep_previous previous versions, the newest ones.
TEST_F(Credentials, PromoteKeepsExactlyKeepPrevious) {
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
      if (auto r = store_pending(tx, root01, pw("gen-" + std::to_string(i)), kT0); !r) return r;
      return promote_pending(tx, root01, 2, "2026-01-0" + std::to_string(i) + "T00:00:00.000Z");
    }));
  }
  std::vector<std::string> states;
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto s = tx.prepare("SELECT state, secret FROM credentials WHERE account_id = ? ORDER BY id");
    s->bind(1, root01);
    while (*s->step()) {
      const auto b = s->column_blob(1);
      states.push_back(s->column_text(0) + " " + std::string(b.begin(), b.end()));
    }
    return ok();
  }));
  EXPECT_EQ(states,
            (std::vector<std::string>{"previous gen-3", "previous gen-4", "current gen-5"}));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto row = find_account_row(tx, "web01", "root");
    EXPECT_EQ((*row)->status, "current");
    EXPECT_EQ((*row)->last_rotated_at, "2026-01-05T00:00:00.000Z");
    return ok();
  }));
}

TEST_F(Credentials, PromoteWithKeepZeroDropsEveryPrevious) {
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    if (auto r = store_pending(tx, root01, pw("gen-1"), kT0); !r) return r;
    return promote_pending(tx, root01, 0, kT0);
  }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto s = tx.prepare("SELECT count(*) FROM credentials WHERE account_id = ?");
    s->bind(1, root01);
    EXPECT_TRUE(*s->step());
    EXPECT_EQ(s->column_int(0), 1);
    return ok();
  }));
}

TEST_F(Credentials, PromoteClearsUnknownErrorAndDue) {
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    if (auto r = mark_unknown(tx, root01, "neither password logs in"); !r) return r;
    if (auto r = set_rotation_due(tx, root01, "checkin"); !r) return r;
    return store_pending(tx, root01, pw("fresh"), kT0);
  }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto row = find_account_row(tx, "web01", "root");
    EXPECT_EQ((*row)->status, "unknown");  // marked wins over pending
    EXPECT_EQ((*row)->last_error, "neither password logs in");
    EXPECT_EQ((*row)->rotation_due, "checkin");
    return promote_pending(tx, root01, 3, "2026-01-02T00:00:00.000Z");
  }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto row = find_account_row(tx, "web01", "root");
    EXPECT_EQ((*row)->status, "current");
    EXPECT_EQ((*row)->last_error, "");
    EXPECT_EQ((*row)->rotation_due, "");
    return ok();
  }));
}

TEST_F(Credentials, PromoteWithNothingPendingIsRefused) {
  auto r = run([&](Store::Tx& tx) { return promote_pending(tx, root01, 3, kT0); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message, "nothing is pending for account " + std::to_string(root01));
}

TEST_F(Credentials, DiscardLeavesCurrentUntouched) {
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    if (auto r = store_pending(tx, root01, pw("doomed"), kT0); !r) return r;
    return discard_pending(tx, root01);
  }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto v = load_versions(tx, root01);
    EXPECT_EQ(text(v->current), "pw-web01");
    EXPECT_FALSE(v->pending);
    EXPECT_EQ((*find_account_row(tx, "web01", "root"))->status, "current");
    // Nothing pending: discarding again is fine.
    return discard_pending(tx, root01);
  }));
  auto none = run([&](Store::Tx& tx) { return discard_pending(tx, 9999); });
  EXPECT_EQ(error_of(none), "no account 9999");
}

TEST_F(Credentials, DiscardKeepsUnknownMark) {
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    if (auto r = store_pending(tx, root01, pw("doomed"), kT0); !r) return r;
    if (auto r = mark_unknown(tx, root01, "host refused both"); !r) return r;
    return discard_pending(tx, root01);
  }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    EXPECT_EQ((*find_account_row(tx, "web01", "root"))->status, "unknown");
    return ok();
  }));
}

TEST_F(Credentials, AccountSettersRefuseUnknownAccount) {
  for (auto fn : {+[](Store::Tx& tx) { return set_last_error(tx, 9999, "x"); },
                  +[](Store::Tx& tx) { return mark_unknown(tx, 9999, "x"); },
                  +[](Store::Tx& tx) { return set_rotation_due(tx, 9999, "x"); }}) {
    auto r = run(fn);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(r.error().message, "no account 9999");
  }
  auto v = run([&](Store::Tx& tx) { return load_versions(tx, 9999).map([](auto&&) {}); });
  EXPECT_EQ(error_of(v), "no account 9999");
}

TEST_F(Credentials, SetLastErrorAndDueShowInRows) {
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    if (auto r = set_last_error(tx, root02, "host unreachable"); !r) return r;
    return set_rotation_due(tx, root02, "seen-by alice");
  }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto row = find_account_row(tx, "web02", "root");
    EXPECT_EQ((*row)->last_error, "host unreachable");
    EXPECT_EQ((*row)->rotation_due, "seen-by alice");
    EXPECT_EQ((*row)->status, "current");
    if (auto r = set_last_error(tx, root02, ""); !r) return r;
    EXPECT_EQ((*find_account_row(tx, "web02", "root"))->last_error, "");
    EXPECT_FALSE(*find_account_row(tx, "web02", "admin"));
    return ok();
  }));
}

TEST_F(Credentials, ListFiltersAndJoinsTheOpenCheckout) {
  add_request("r1", alice, root02);
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    if (auto r = store_pending(tx, root01, pw("p"), kT0); !r) return r;
    return open_checkout(tx, "r1", root02, alice, kT0, "2026-01-01T01:00:00.000Z").map([](auto&&) {
    });
  }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto all = list_account_rows(tx, {});
    EXPECT_EQ(all->size(), 2u);
    EXPECT_EQ((*all)[0].host, "web01");
    EXPECT_EQ((*all)[0].host_group, "web");
    EXPECT_EQ((*all)[0].protocol, "ssh");
    EXPECT_EQ((*all)[0].kind, "password");
    EXPECT_EQ((*all)[0].checkout_holder, "");
    EXPECT_EQ((*all)[1].checkout_request, "r1");
    EXPECT_EQ((*all)[1].checkout_holder, "alice");
    EXPECT_EQ((*all)[1].checkout_until, "2026-01-01T01:00:00.000Z");
    auto pending = list_account_rows(tx, filter("", "pending", ""));
    EXPECT_EQ(pending->size(), 1u);
    EXPECT_EQ(pending->at(0).host, "web01");
    EXPECT_EQ(list_account_rows(tx, filter("web02", "", ""))->size(), 1u);
    EXPECT_EQ(list_account_rows(tx, filter("", "", "db"))->size(), 0u);
    EXPECT_EQ(list_account_rows(tx, filter("", "unknown", ""))->size(), 0u);
    return ok();
  }));
}

TEST_F(Credentials, ListLeavesOutRetiredHostsUnlessAsked) {
  ASSERT_TRUE(run([&](Store::Tx& tx) { return retire_host(tx, "web02", kT0); }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto rows = list_account_rows(tx, {});
    EXPECT_EQ(rows->size(), 1u);
    auto all = list_account_rows(tx, filter("", "", "", true));
    EXPECT_EQ(all->size(), 2u);
    EXPECT_TRUE(all->at(1).host_retired);
    EXPECT_TRUE((*find_account_row(tx, "web02", "root"))->host_retired);
    return ok();
  }));
}

}  // namespace
}  // namespace sekisho::storage
