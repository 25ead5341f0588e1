// AuthService over a real encrypted store and the local directory, with a test clock.
#include "broker/auth/auth_service.hpp"

#include <gtest/gtest.h>
#include <liboath/oath.h>

#include "base/password_hash.hpp"
#include "ldap/local_directory.hpp"
#include "ldap/totp.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;

class AuthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = testing::make_test_store();
    directory_ = std::make_unique<ldap::LocalDirectory>(*t_->store);
    config_.throttle = {3, 10min, 15min};
    config_.token_ttl = 1h;
    auth_ = std::make_unique<AuthService>(*t_->store, *t_->log, *directory_, config_, t_->clock);
    add_user("alice", "alice-password-1", {"requester"}, false);
  }

  void add_user(const std::string& name, const std::string& pw, std::vector<std::string> roles,
                bool must_change) {
    auto hash = hash_password(Secret::copy_of(std::string_view(pw)));
    ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto id =
          storage::create_user(tx, {name, *hash, roles, must_change, "2026-01-01T00:00:00.000Z"});
      if (!id) return tl::make_unexpected(id.error());
      return ok();
    }));
  }

  LoginRequest request(const std::string& user, const std::string& pw) {
    LoginRequest r;
    r.user = user;
    r.password = Secret::copy_of(std::string_view(pw));
    r.source = "127.0.0.1";
    return r;
  }

  std::vector<std::string> audit_actions() {
    std::vector<std::string> out;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare("SELECT action FROM audit_events ORDER BY seq");
      while (*s->step()) out.push_back(s->column_text(0));
      return ok();
    }));
    return out;
  }

  std::unique_ptr<testing::TestStore> t_;
  std::unique_ptr<ldap::LocalDirectory> directory_;
  AuthConfig config_;
  std::unique_ptr<AuthService> auth_;
};

TEST_F(AuthServiceTest, RightPasswordGivesAWorkingTokenUntilItExpires) {
  auto login = auth_->login(request("alice", "alice-password-1"));
  ASSERT_TRUE(login) << login.error().message;
  EXPECT_EQ(login->token.size(), 43u);
  EXPECT_EQ(login->roles, std::vector<std::string>{"requester"});
  auto caller = auth_->authenticate("Bearer " + login->token);
  ASSERT_TRUE(caller) << caller.error().message;
  EXPECT_EQ(caller->name, "alice");
  EXPECT_TRUE(caller->has_role("requester"));
  EXPECT_FALSE(caller->has_role("operator"));
  t_->clock.advance(1h + 1s);
  EXPECT_FALSE(auth_->authenticate("Bearer " + login->token));
  EXPECT_EQ(audit_actions().back(), "login.success");
}

TEST_F(AuthServiceTest, WrongUnknownAndEmptyPasswordsGiveOneMessage) {
  for (const auto& [user, pw] : std::vector<std::pair<std::string, std::string>>{
           {"alice", "wrong"}, {"nobody", "whatever"}, {"alice", ""}}) {
    auto r = auth_->login(request(user, pw));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
    EXPECT_EQ(r.error().message, "wrong user name or password");
  }
}

TEST_F(AuthServiceTest, ThrottlesAfterRepeatedFailuresAndAuditsIt) {
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(auth_->login(request("alice", "wrong")));
  auto r = auth_->login(request("alice", "alice-password-1"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kThrottled);
  const auto actions = audit_actions();
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "login.failure"), 3);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "login.lockout"), 1);
  EXPECT_EQ(actions.back(), "login.throttled");
  t_->clock.advance(16min);
  EXPECT_TRUE(auth_->login(request("alice", "alice-password-1")));
}

TEST_F(AuthServiceTest, OneTimePasswordMustBeChangedAndThenStopsWorking) {
  add_user("op", "one-time-pw-123", {"operator"}, true);
  auto first = auth_->login(request("op", "one-time-pw-123"));
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, ErrorCode::kPasswordChangeRequired);
  auto short_pw = request("op", "one-time-pw-123");
  short_pw.new_password = Secret::copy_of(std::string_view("short"));
  EXPECT_EQ(auth_->login(short_pw).error().code, ErrorCode::kInvalidArgument);
  auto change = request("op", "one-time-pw-123");
  change.new_password = Secret::copy_of(std::string_view("a-much-better-password"));
  ASSERT_TRUE(auth_->login(change));
  EXPECT_FALSE(auth_->login(request("op", "one-time-pw-123")));
  EXPECT_TRUE(auth_->login(request("op", "a-much-better-password")));
}

std::string code_at(const Secret& secret, TimePoint t) {
  char out[8] = {};
  oath_init();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  EXPECT_EQ(oath_totp_generate(reinterpret_cast<const char*>(secret.data()), secret.size(), secs,
                               30, 0, 6, out),
            OATH_OK);
  return out;
}

TEST_F(AuthServiceTest, EnrolledTotpIsRequiredAndChecked) {
  const Secret secret = ldap::generate_totp_secret();
  ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto u = storage::find_user(tx, "alice");
    if (auto e = storage::set_totp_pending(tx, (*u)->id, secret); !e) return e;
    return storage::confirm_totp(tx, (*u)->id);
  }));
  auto none = auth_->login(request("alice", "alice-password-1"));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kTotpRequired);
  auto wrong = request("alice", "alice-password-1");
  const std::string good = code_at(secret, t_->clock.now());
  wrong.totp = good == "000000" ? "111111" : "000000";
  EXPECT_EQ(auth_->login(wrong).error().code, ErrorCode::kUnauthenticated);
  auto right = request("alice", "alice-password-1");
  right.totp = good;
  EXPECT_TRUE(auth_->login(right));
  auto replay = request("alice", "alice-password-1");
  replay.totp = good;
  auto replayed = auth_->login(replay);
  ASSERT_FALSE(replayed);
  EXPECT_NE(replayed.error().message.find("already used"), std::string::npos);
  t_->clock.advance(30s);
  auto next = request("alice", "alice-password-1");
  next.totp = code_at(secret, t_->clock.now());
  EXPECT_TRUE(auth_->login(next)) << "the next step's code works";
}

TEST_F(AuthServiceTest, RequiredTotpGivesAnEnrolmentOnlyToken) {
  config_.require_totp_for = {"operator"};
  auth_ = std::make_unique<AuthService>(*t_->store, *t_->log, *directory_, config_, t_->clock);
  add_user("op", "op-password-1234", {"operator"}, false);
  auto login = auth_->login(request("op", "op-password-1234"));
  ASSERT_TRUE(login);
  EXPECT_TRUE(login->totp_enrollment_required);
  EXPECT_TRUE(login->roles.empty());
  auto alice = auth_->login(request("alice", "alice-password-1"));
  ASSERT_TRUE(alice);
  EXPECT_FALSE(alice->totp_enrollment_required);
}

TEST_F(AuthServiceTest, TheEnrolmentOnlyScopeIsStoredWithTheToken) {
  config_.require_totp_for = {"operator"};
  auth_ = std::make_unique<AuthService>(*t_->store, *t_->log, *directory_, config_, t_->clock);
  add_user("op", "op-password-1234", {"operator"}, false);
  auto op = auth_->login(request("op", "op-password-1234"));
  ASSERT_TRUE(op);
  auto enrolment = auth_->authenticate("Bearer " + op->token);
  ASSERT_TRUE(enrolment) << enrolment.error().message;
  EXPECT_EQ(enrolment->scope, storage::TokenScope::kTotpEnrollment);
  auto alice = auth_->login(request("alice", "alice-password-1"));
  ASSERT_TRUE(alice);
  auto full = auth_->authenticate("Bearer " + alice->token);
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(full->scope, storage::TokenScope::kFull);
}

TEST_F(AuthServiceTest, ReplacingAnEnrolledTotpNeedsItsCurrentCode) {
  auto login = auth_->login(request("alice", "alice-password-1"));
  ASSERT_TRUE(login);
  auto caller = auth_->authenticate("Bearer " + login->token);
  ASSERT_TRUE(caller);
  EXPECT_TRUE(auth_->check_current_totp(*caller, std::nullopt, "127.0.0.1"))
      << "nothing enrolled: nothing to prove";
  const Secret secret = ldap::generate_totp_secret();
  ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
    if (auto e = storage::set_totp_pending(tx, caller->user_id, secret); !e) return e;
    return storage::confirm_totp(tx, caller->user_id);
  }));
  auto missing = auth_->check_current_totp(*caller, std::nullopt, "127.0.0.1");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(missing.error().message.find("needs the current code"), std::string::npos);
  const std::string good = code_at(secret, t_->clock.now());
  const std::string bad = good == "000000" ? "000001" : "000000";
  auto wrong = auth_->check_current_totp(*caller, bad, "127.0.0.1");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message, "wrong current TOTP code; the enrolled TOTP is unchanged");
  EXPECT_TRUE(auth_->check_current_totp(*caller, good, "127.0.0.1"));
  auto replayed = auth_->check_current_totp(*caller, good, "127.0.0.1");
  ASSERT_FALSE(replayed) << "a code proves the factor once";
  EXPECT_NE(replayed.error().message.find("already used"), std::string::npos);
  // Wrong codes count towards the login throttle (3 failures here): the API cannot guess codes.
  EXPECT_FALSE(auth_->check_current_totp(*caller, bad, "127.0.0.1"));
  EXPECT_FALSE(auth_->check_current_totp(*caller, bad, "127.0.0.1"));
  auto locked =
      auth_->check_current_totp(*caller, code_at(secret, t_->clock.now() + 30s), "127.0.0.1");
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().code, ErrorCode::kThrottled);
  const auto actions = audit_actions();
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "totp.enroll_refused"), 6);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "login.lockout"), 1);
}

TEST_F(AuthServiceTest, DisabledUserIsRefusedAndTokensStopWorking) {
  auto login = auth_->login(request("alice", "alice-password-1"));
  ASSERT_TRUE(login);
  ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto u = storage::find_user(tx, "alice");
    return storage::set_disabled(tx, (*u)->id, true);
  }));
  EXPECT_FALSE(auth_->authenticate("Bearer " + login->token));
  auto again = auth_->login(request("alice", "alice-password-1"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(AuthServiceTest, LogoutRevokesAndMalformedHeadersAreRefused) {
  auto login = auth_->login(request("alice", "alice-password-1"));
  auto caller = auth_->authenticate("Bearer " + login->token);
  ASSERT_TRUE(caller);
  ASSERT_TRUE(auth_->logout(*caller));
  EXPECT_FALSE(auth_->authenticate("Bearer " + login->token));
  for (const char* h : {"", "Bearer", "Basic abc", "Bearer short",
                        "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    EXPECT_FALSE(auth_->authenticate(h)) << h;
  }
}

}  // namespace
}  // namespace sekisho::broker
