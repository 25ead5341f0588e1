#include "storage/checkouts.hpp"

#include "tests/unit/storage/rotation_fixture.hpp"

namespace sekisho::storage {
namespace {

constexpr char kUntil[] = "2026-01-01T01:00:00.000Z";

struct Checkouts : RotationStoreTest {
  Result<CheckoutRow> open(const std::string& request, std::int64_t account, std::int64_t user,
                           const std::string& until = kUntil) {
    Result<CheckoutRow> out = fail(ErrorCode::kInternal, "not run");
    EXPECT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
      out = open_checkout(tx, request, account, user, kT0, until);
      return ok();
    }));
    return out;
  }
  bool end(const std::string& request, const std::string& reason = "checkin") {
    bool ended = false;
    EXPECT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
      auto r = end_checkout(tx, request, reason, "2026-01-01T00:30:00.000Z");
      if (!r) return tl::make_unexpected(r.error());
      ended = *r;
      return ok();
    }));
    return ended;
  }
};

TEST_F(Checkouts, OpenThenFindAndSameRequestAgain) {
  add_request("r1", alice, root01);
  auto c = open("r1", root01, alice);
  ASSERT_TRUE(c) << error_of(c);
  EXPECT_EQ(c->request_id, "r1");
  EXPECT_EQ(c->user_name, "alice");
  EXPECT_EQ(c->until, kUntil);
  EXPECT_EQ(c->ended_at, "");
  // Showing the password again within the window is the same check-out.
  auto again = open("r1", root01, alice);
  ASSERT_TRUE(again) << error_of(again);
  EXPECT_EQ(again->id, c->id);
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto found = find_checkout(tx, "r1");
    EXPECT_EQ((*found)->id, c->id);
    auto of_account = open_checkout_of_account(tx, root01);
    EXPECT_EQ((*of_account)->request_id, "r1");
    EXPECT_FALSE(*open_checkout_of_account(tx, root02));
    EXPECT_FALSE(*find_checkout(tx, "nope"));
    return ok();
  }));
}

// Two requests for one account: the second is refused with who holds it and until when.
TEST_F(Checkouts, SecondRequestIsRefusedWithHolderAndUntil) {
  add_request("r1", alice, root01);
  add_request("r2", bob, root01);
  ASSERT_TRUE(open("r1", root01, alice));
  auto second = open("r2", root01, bob);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(second.error().message,
            "root@web01 is checked out by alice until " + std::string(kUntil));
  // Another account is free; after check-in the first account is free again.
  add_request("r3", bob, root02);
  EXPECT_TRUE(open("r3", root02, bob));
  EXPECT_TRUE(end("r1"));
  EXPECT_TRUE(open("r2", root01, bob));
}

// The unique index holds even against a writer that skips open_checkout's check.
TEST_F(Checkouts, UniqueIndexAllowsOneOpenPerAccount) {
  add_request("r1", alice, root01);
  add_request("r2", bob, root01);
  ASSERT_TRUE(open("r1", root01, alice));
  auto raw = run([&](Store::Tx& tx) {
    return tx.exec(
        "INSERT INTO checkouts (request_id, account_id, user_id, started_at, until) "
        "VALUES ('r2', " +
        std::to_string(root01) + ", " + std::to_string(bob) + ", 'a', 'b')");
  });
  ASSERT_FALSE(raw);
  EXPECT_NE(raw.error().message.find("UNIQUE"), std::string::npos) << raw.error().message;
}

TEST_F(Checkouts, EndedCheckoutCannotReopen) {
  add_request("r1", alice, root01);
  ASSERT_TRUE(open("r1", root01, alice));
  EXPECT_TRUE(end("r1", "checkin"));
  EXPECT_FALSE(end("r1"));  // already ended
  EXPECT_FALSE(end("never"));
  auto again = open("r1", root01, alice);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(again.error().message,
            "the check-out of request r1 ended at 2026-01-01T00:30:00.000Z; a request is "
            "checked out once");
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto c = find_checkout(tx, "r1");
    EXPECT_EQ((*c)->end_reason, "checkin");
    EXPECT_EQ((*c)->ended_at, "2026-01-01T00:30:00.000Z");
    EXPECT_FALSE(*open_checkout_of_account(tx, root01));
    return ok();
  }));
}

TEST_F(Checkouts, PastWindowListsOnlyOpenOnesAtOrBeforeNow) {
  add_request("r1", alice, root01);
  add_request("r2", bob, root02);
  ASSERT_TRUE(open("r1", root01, alice, "2026-01-01T01:00:00.000Z"));
  ASSERT_TRUE(open("r2", root02, bob, "2026-01-01T02:00:00.000Z"));
  auto past = [&](const std::string& now) {
    std::vector<std::string> ids;
    EXPECT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
      auto rows = checkouts_past_window(tx, now);
      for (const auto& c : *rows) ids.push_back(c.request_id);
      return ok();
    }));
    return ids;
  };
  EXPECT_EQ(past("2026-01-01T00:59:59.999Z"), std::vector<std::string>{});
  EXPECT_EQ(past("2026-01-01T01:00:00.000Z"), std::vector<std::string>{"r1"});
  EXPECT_EQ(past("2026-01-01T03:00:00.000Z"), (std::vector<std::string>{"r1", "r2"}));
  EXPECT_TRUE(end("r1", "window end"));
  EXPECT_EQ(past("2026-01-01T03:00:00.000Z"), std::vector<std::string>{"r2"});
}

TEST_F(Checkouts, AccountsSeenByHasNoRepeats) {
  add_request("r1", alice, root01);
  add_request("r2", alice, root01);
  add_request("r3", alice, root02);
  add_request("r4", bob, root02);
  ASSERT_TRUE(open("r1", root01, alice));
  EXPECT_TRUE(end("r1"));
  ASSERT_TRUE(open("r2", root01, alice));
  EXPECT_TRUE(end("r2"));
  ASSERT_TRUE(open("r3", root02, alice));
  EXPECT_TRUE(end("r3"));
  ASSERT_TRUE(open("r4", root02, bob));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    EXPECT_EQ(*accounts_seen_by(tx, alice), (std::vector<std::int64_t>{root01, root02}));
    EXPECT_EQ(*accounts_seen_by(tx, bob), (std::vector<std::int64_t>{root02}));
    EXPECT_EQ(*accounts_seen_by(tx, 9999), (std::vector<std::int64_t>{}));
    return ok();
  }));
}

}  // namespace
}  // namespace sekisho::storage
