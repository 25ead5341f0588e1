#include "broker/login_name.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "broker/config.hpp"

namespace sekisho::broker {
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
                                "alice@root@web/01", std::string(300, 'a') + "@root@web01",
                                std::string(kMaxLoginName, 'a') + "@root@web01"}) {
    auto n = parse_login_name(bad);
    EXPECT_FALSE(n) << bad;
    if (!n) {
      EXPECT_NE(n.error().message.find("ACCOUNT@HOST"), std::string::npos);
    }
  }
}

TEST(SshLimitsConfig, DefaultsAndKeys) {
  auto d = parse_config("", "c.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->ssh_limits.max_sessions, 500u);
  EXPECT_EQ(d->ssh_limits.max_startups, 50u);
  auto c = parse_config("[ssh]\nlisten = \"127.0.0.1:0\"\nmax_sessions = 2\nmax_startups = 7\n",
                        "c.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ssh_limits.max_sessions, 2u);
  EXPECT_EQ(c->ssh_limits.max_startups, 7u);
  EXPECT_EQ(c->ssh.port, 0);
  for (const char* bad : {"[ssh]\nmax_sessions = 0\n", "[ssh]\nmax_startups = \"5\"\n",
                          "[ssh]\nmax_sessions = 100001\n"}) {
    auto r = parse_config(bad, "c.toml");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("must be an integer from 1 to 100000"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace sekisho::broker
