#include "cli/arguments.hpp"

#include <gtest/gtest.h>

namespace sekisho::cli {
namespace {

TEST(SplitAccountAtHost, SplitsAtTheLastAt) {
  auto t = split_account_at_host("root@web01");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->account, "root");
  EXPECT_EQ(t->host, "web01");
  t = split_account_at_host("svc@corp.example.com@win01");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->account, "svc@corp.example.com");
  EXPECT_EQ(t->host, "win01");
}

TEST(SplitAccountAtHost, RefusesMissingParts) {
  for (const char* bad : {"root", "@web01", "root@", "", "@"}) {
    auto t = split_account_at_host(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_NE(t.error().message.find("ACCOUNT@HOST"), std::string::npos);
  }
}

TEST(ParseHostAddress, DefaultsAndExplicitPorts) {
  auto a = parse_host_address("10.0.0.5", 22);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->address, "10.0.0.5");
  EXPECT_EQ(a->port, 22);
  a = parse_host_address("web01.example.com:2200", 22);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->address, "web01.example.com");
  EXPECT_EQ(a->port, 2200);
  a = parse_host_address("win01", 3389);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 3389);
}

TEST(ParseHostAddress, Ipv6WithAndWithoutBrackets) {
  auto a = parse_host_address("[2001:db8::1]:2222", 22);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->address, "2001:db8::1");
  EXPECT_EQ(a->port, 2222);
  EXPECT_EQ(a->text(), "[2001:db8::1]:2222");
  a = parse_host_address("[::1]", 22);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->address, "::1");
  EXPECT_EQ(a->port, 22);
  a = parse_host_address("fe80::1", 3389);  // bare IPv6: no port can be told apart
  ASSERT_TRUE(a);
  EXPECT_EQ(a->address, "fe80::1");
  EXPECT_EQ(a->port, 3389);
}

TEST(ParseHostAddress, RefusesBadInput) {
  for (const char* bad : {"", "host:", "host:0", "host:65536", "host:22x", "[::1", "[::1]x",
                          "[::1]:", "ho st", "a/b:22", "[zz::1]:22"}) {
    EXPECT_FALSE(parse_host_address(bad, 22)) << bad;
  }
}

TEST(ParseServerUrl, CanonicalForm) {
  auto u = parse_server_url("https://LocalHost:9443/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->url(), "https://localhost:9443");
  u = parse_server_url("https://127.0.0.1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->url(), "https://127.0.0.1:8443");
  u = parse_server_url("https://[::1]:8443");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->url(), "https://[::1]:8443");
}

TEST(ParseServerUrl, RefusesPlainHttpAndPaths) {
  for (const char* bad : {"http://127.0.0.1:8443", "127.0.0.1:8443", "https://", "https://h:0",
                          "https://h/v1", "https://user@h:1", "https://h:8443?x"}) {
    EXPECT_FALSE(parse_server_url(bad)) << bad;
  }
}

TEST(ParseRoles, SplitsAndRefusesEmptyItems) {
  auto r = parse_roles("operator, auditor");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<std::string>{"operator", "auditor"}));
  EXPECT_FALSE(parse_roles(""));
  EXPECT_FALSE(parse_roles("a,,b"));
  EXPECT_FALSE(parse_roles("a,"));
}

TEST(CheckPathName, AllowsDirectoryNamesOnly) {
  EXPECT_TRUE(check_path_name("user name", "alice.b-c_d@corp"));
  for (const char* bad : {"", "a/b", "a b", "..%2f", "a?b", "x#"}) {
    EXPECT_FALSE(check_path_name("user name", bad)) << bad;
  }
}

}  // namespace
}  // namespace sekisho::cli
