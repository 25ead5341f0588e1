// The API router's request bodies: every string is wiped when a request ends, so that a password
// a refusal returned early with (before secret_field() took it) does not stay in freed memory.
#include "broker/api/router.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sekisho::broker {
namespace {

TEST(ApiRouterBody, WipeStringsOverwritesEveryStringInPlace) {
  nlohmann::json body = {{"user", "alice"},
                         {"password", "Alice-Secret-1"},
                         {"nested", {{"private_key", "-----BEGIN KEY-----"}}},
                         {"list", {"one-Secret", 7}}};
  const char* password = body["password"].get_ref<const std::string&>().data();
  const std::size_t size = body["password"].get_ref<const std::string&>().size();
  wipe_strings(body);
  // The same buffer, now zeros: no copy was made and left behind.
  EXPECT_EQ(body["password"].get_ref<const std::string&>().data(), password);
  EXPECT_EQ(std::string(password, size), std::string(size, '\0'));
  EXPECT_EQ(body.dump().find("Secret"), std::string::npos);
  EXPECT_EQ(body.dump().find("BEGIN"), std::string::npos);
  EXPECT_EQ(body["list"][1], 7);
}

Caller caller_with(std::vector<std::string> roles, storage::TokenScope scope) {
  Caller c;
  c.name = "alice";
  c.roles = std::move(roles);
  c.scope = scope;
  return c;
}

TEST(ApiRouterAccess, AnEnrolmentOnlyTokenPassesOnlyEnrolmentRoutes) {
  const Caller enrolment = caller_with({}, storage::TokenScope::kTotpEnrollment);
  for (const Access& access : {Access::any_user(), Access::roles_of({"requester"})}) {
    auto refusal = check_access(access, enrolment);
    ASSERT_TRUE(refusal);
    EXPECT_EQ(refusal->error.code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(refusal->error.message, kEnrolmentOnlyMessage);
    EXPECT_EQ(refusal->details["reason"], "totp_enrollment_only");
  }
  EXPECT_FALSE(check_access(Access::enrolment(), enrolment));
}

TEST(ApiRouterAccess, AFullTokenPassesByItsRoles) {
  const Caller full = caller_with({"requester"}, storage::TokenScope::kFull);
  EXPECT_FALSE(check_access(Access::any_user(), full));
  EXPECT_FALSE(check_access(Access::enrolment(), full));
  EXPECT_FALSE(check_access(Access::roles_of({"auditor", "requester"}), full));
  auto refusal = check_access(Access::roles_of({"operator", "auditor"}), full);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->error.message, "this needs the operator or auditor role");
  EXPECT_EQ(refusal->details["needs"], "operator or auditor");
}

}  // namespace
}  // namespace sekisho::broker
