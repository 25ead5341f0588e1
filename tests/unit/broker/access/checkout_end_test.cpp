// CheckoutService, the ends of a check-out: check-in, the end of the window and a cut-off user,
// each owing the account a rotation stored with the end (so no crash loses it).
#include "broker/auth/user_cutoff.hpp"
#include "tests/unit/broker/access/checkout_fixture.hpp"

namespace sekisho::broker::checkout_test {
namespace {

TEST_F(CheckoutServiceTest, CheckinEndsItOwesTheRotationAndClosesTheRequest) {
  const std::string id = approved(alice_);
  ASSERT_TRUE(svc_->checkout(alice_, id));

  auto stranger = svc_->checkin(dave_, id);
  ASSERT_FALSE(stranger);
  EXPECT_EQ(stranger.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(stranger.error().message, "only the requester can check in request " + id);
  const std::string unused = approved(dave_, "Administrator@win01");
  auto none = svc_->checkin(dave_, unused);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(none.error().message, "request " + unused + " has no open check-out");
  auto refusals = audit("credential.checkin_refused");
  ASSERT_EQ(refusals.size(), 2u);
  EXPECT_EQ(refusals[0].actor, "dave");
  EXPECT_EQ(refusals[1].details["reason"], none.error().message);

  auto in = svc_->checkin(alice_, id);
  ASSERT_TRUE(in) << in.error().message;
  EXPECT_EQ(in->rotation, "started");
  EXPECT_EQ(state_of(id), "closed");
  auto row = checkout_row(id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->end_reason, "checkin");
  EXPECT_FALSE(row->ended_at.empty());
  EXPECT_EQ(rotation_due("web01", "root"), "checkin");
  ASSERT_EQ(trigger_.rotations.size(), 1u);
  EXPECT_EQ(trigger_.rotations[0],
            std::make_tuple(root_id_, std::string("checkin"), std::string("alice")));
  auto checkins = audit("credential.checkin");
  ASSERT_GE(checkins.size(), 1u);
  EXPECT_EQ(checkins.back().action, "credential.checkin");
  EXPECT_EQ(
      checkins.back().details,
      (nlohmann::json{
          {"request", id}, {"holder", "alice"}, {"reason", "checkin"}, {"rotation", "owed"}}));
  auto closed = audit("request.closed");
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].actor, "alice");
  EXPECT_EQ(closed[0].details["request"], id);
  EXPECT_EQ(closed[0].details["reason"], "checkin");

  auto twice = svc_->checkin(alice_, id);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "request " + id + " has no open check-out");
  auto shown_again = svc_->checkout(alice_, id);
  ASSERT_FALSE(shown_again);
  EXPECT_EQ(shown_again.error().message, "request " + id + " grants no check-out now (closed)");
  expect_no_secret_in_audit();
}

TEST_F(CheckoutServiceTest, TheNextCheckoutWaitsForTheRotationTheLastOneOwes) {
  const std::string first = approved(alice_);
  ASSERT_TRUE(svc_->checkout(alice_, first));
  ASSERT_TRUE(svc_->checkin(alice_, first));
  const std::string second = approved(dave_);
  auto refused = svc_->checkout(dave_, second);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(refused.error().message,
            "root@web01 still owes the rotation after \"checkin\"; try again once it has been "
            "rotated");
  // The rotation ran (the rotation service clears the debt when it promotes the new password).
  ASSERT_TRUE(t_->store->transact(
      [&](storage::Store::Tx& tx) { return storage::set_rotation_due(tx, root_id_, ""); }));
  auto lent = svc_->checkout(dave_, second);
  ASSERT_TRUE(lent) << lent.error().message;
}

TEST_F(CheckoutServiceTest, WindowEndEndsTheCheckoutAndOwesTheRotation) {
  const std::string id = approved(alice_, "root@web01", approval::Mode::kCheckout, 30min);
  ASSERT_TRUE(svc_->checkout(alice_, id));
  t_->clock.advance(29min);
  auto early = svc_->sweep();
  ASSERT_TRUE(early) << early.error().message;
  EXPECT_EQ(*early, 0);
  EXPECT_TRUE(trigger_.rotations.empty());

  t_->clock.advance(1min);
  auto swept = svc_->sweep();
  ASSERT_TRUE(swept) << swept.error().message;
  EXPECT_EQ(*swept, 1);
  auto row = checkout_row(id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->end_reason, "window end");
  EXPECT_EQ(rotation_due("web01", "root"), "window end");
  ASSERT_EQ(trigger_.rotations.size(), 1u);
  EXPECT_EQ(trigger_.rotations[0],
            std::make_tuple(root_id_, std::string("window end"), std::string("system")));
  auto ended = audit("credential.checkout_ended");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].actor, "sekishod");
  EXPECT_EQ(ended[0].details["reason"], "window end");
  ASSERT_TRUE(requests_->sweep());
  EXPECT_EQ(state_of(id), "closed");
  auto again = svc_->sweep();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0) << "a check-out ends once";
  EXPECT_EQ(trigger_.rotations.size(), 1u);
  expect_no_secret_in_audit();
}

// The daemon dying between the end of a check-out and the start of its rotation: the debt was
// stored with the end, so the next start rotates.
TEST_F(CheckoutServiceTest, TheOwedRotationSurvivesARotationThatDidNotStart) {
  const std::string id = approved(alice_, "root@web01", approval::Mode::kCheckout, 30min);
  ASSERT_TRUE(svc_->checkout(alice_, id));
  trigger_.fail_rotate = true;
  t_->clock.advance(30min);
  auto swept = svc_->sweep();
  ASSERT_TRUE(swept) << swept.error().message;
  EXPECT_EQ(*swept, 1);
  EXPECT_TRUE(trigger_.rotations.empty());
  t_->reopen();
  std::vector<storage::AccountRow> owed;
  ASSERT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
    auto rows = storage::list_account_rows(tx, {});
    if (!rows) return tl::make_unexpected(rows.error());
    for (auto& r : *rows) {
      if (!r.rotation_due.empty()) owed.push_back(r);
    }
    return ok();
  }));
  ASSERT_EQ(owed.size(), 1u);
  EXPECT_EQ(owed[0].id, root_id_);
  EXPECT_EQ(owed[0].rotation_due, "window end");
  EXPECT_EQ(owed[0].checkout_request, "") << "the check-out ended with the debt stored";
}

TEST_F(CheckoutServiceTest, ADisabledUsersCheckoutsEndAndOweTheirRotation) {
  const std::string id = approved(alice_);
  ASSERT_TRUE(svc_->checkout(alice_, id));
  const std::string session = approved(alice_, "root@web01", approval::Mode::kSession);
  auto ended = svc_->end_checkouts_of(alice_.user_id, "bob", "user disabled");
  ASSERT_TRUE(ended) << ended.error().message;
  EXPECT_EQ(*ended, 1);
  EXPECT_EQ(checkout_row(id)->end_reason, "user disabled");
  EXPECT_EQ(rotation_due("web01", "root"), "user disabled");
  ASSERT_EQ(trigger_.rotations.size(), 1u);
  EXPECT_EQ(trigger_.rotations[0],
            std::make_tuple(root_id_, std::string("user disabled"), std::string("bob")));
  auto audited = audit("credential.checkout_ended");
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0].actor, "bob");
  EXPECT_EQ(state_of(session), "approved") << "requests are the cut-off's next step";
}

// A user cut off (disabled, departed): the check-out ends before the request it is found by.
TEST_F(CheckoutServiceTest, CuttingAUserOffEndsTheirCheckoutThenTheirRequest) {
  const std::string id = approved(alice_);
  ASSERT_TRUE(svc_->checkout(alice_, id));
  CutOffTargets targets{*t_->store, *t_->log, requests_.get(), {}, svc_.get()};
  auto counts = cut_off_user(targets, alice_.user_id, "alice", "bob");
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(counts->checkouts, 1);
  EXPECT_EQ(counts->requests, 1);
  EXPECT_EQ(checkout_row(id)->end_reason, "user disabled");
  EXPECT_EQ(state_of(id), "closed");
  EXPECT_EQ(rotation_due("web01", "root"), "user disabled");
  ASSERT_EQ(trigger_.rotations.size(), 1u);
}

}  // namespace
}  // namespace sekisho::broker::checkout_test
