#include "ssh/login_name.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sekisho::ssh {
namespace {

TEST(LoginName, AccountAtHostHasNoHint) {
  auto n = parse_login_name("root@web01");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_FALSE(n->gateway_user);
  EXPECT_EQ(n->account, "root");
  EXPECT_EQ(n->host, "web01");
  EXPECT_EQ(n->target(), "root@web01");
}

TEST(LoginName, HintBeforeTheTarget) {
  auto n = parse_login_name("alice@root@web01");
  ASSERT_TRUE(n) << n.error().message;
  ASSERT_TRUE(n->gateway_user);
  EXPECT_EQ(*n->gateway_user, "alice");
  EXPECT_EQ(n->target(), "root@web01");
}

TEST(LoginName, HintMayHoldAnAt) {
  auto n = parse_login_name("alice@corp.example@root@web01.lan");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n->gateway_user, "alice@corp.example");
  EXPECT_EQ(n->account, "root");
  EXPECT_EQ(n->host, "web01.lan");
}

TEST(LoginName, RefusesMalformedNames) {
  for (const std::string& bad :
       std::vector<std::string>{"", "root", "@web01", "root@", "@root@web01", "alice@@web01",
                                "alice@root@", "a b@root@web01", "alice@ro ot@web01",
                                "alice@root@web/01", std::string(300, 'a') + "@root@web01"}) {
    auto n = parse_login_name(bad);
    EXPECT_FALSE(n) << bad;
    if (!n) {
      EXPECT_NE(n.error().message.find("ACCOUNT@HOST"), std::string::npos);
    }
  }
}

TEST(LoginName, OneLimitOf400CharactersRefusedNeverCut) {
  // The longest name the parts allow: a 256-character hint, a 64-character account and host.
  const std::string longest =
      std::string(256, 'a') + "@" + std::string(64, 'r') + "@" + std::string(64, 'h');
  EXPECT_TRUE(parse_login_name(longest).has_value());
  // Up to the limit a name is judged by its parts; above it, by its length alone.
  const std::string at_limit = std::string(kMaxLoginName - 11, 'a') + "@root@web01";
  ASSERT_EQ(at_limit.size(), 400u);
  auto parts = parse_login_name(at_limit);
  ASSERT_FALSE(parts);
  EXPECT_NE(parts.error().message.find("ACCOUNT@HOST"), std::string::npos);
  auto too_long = parse_login_name(at_limit + "x");
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().message, "the user name is longer than 400 characters; refused");
}

}  // namespace
}  // namespace sekisho::ssh
