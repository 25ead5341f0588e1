#include "approval/policy.hpp"

#include <gtest/gtest.h>

namespace sekisho::approval {
namespace {

Person person(std::int64_t id, std::string name, std::vector<std::string> roles,
              std::vector<std::string> groups = {}, std::string entry = "") {
  return Person{id, name, entry.empty() ? "local:" + name : entry, std::move(roles),
                std::move(groups)};
}

TEST(Selector, ParsesTheThreeKindsAndRefusesTheRest) {
  EXPECT_EQ(parse_selector("role:approver")->kind, Selector::Kind::kRole);
  EXPECT_EQ(parse_selector("group:cn=oncall,ou=groups")->value, "cn=oncall,ou=groups");
  EXPECT_EQ(parse_selector("user:alice")->kind, Selector::Kind::kUser);
  for (const char* bad : {"approver", "role:", "role:admin", "team:x", ":x", ""}) {
    auto s = parse_selector(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(Selector, GroupsCompareCaseInsensitivelyRolesAndUsersExactly) {
  const Person p = person(1, "alice", {"requester"}, {"cn=OnCall,ou=groups,dc=example,dc=com"});
  EXPECT_TRUE(parse_selector("group:cn=oncall,ou=groups,dc=example,dc=com")->matches(p));
  EXPECT_FALSE(parse_selector("group:cn=oncall2,ou=groups,dc=example,dc=com")->matches(p));
  EXPECT_TRUE(parse_selector("role:requester")->matches(p));
  EXPECT_FALSE(parse_selector("role:approver")->matches(p));
  EXPECT_TRUE(parse_selector("user:alice")->matches(p));
  EXPECT_FALSE(parse_selector("user:Alice")->matches(p));
}

TEST(Person, SameDirectoryEntryIsSamePerson) {
  const Person a = person(1, "alice", {}, {}, "uid=alice,ou=people,dc=example,dc=com");
  const Person a2 = person(7, "alice-adm", {}, {}, "UID=alice,ou=people,dc=example,dc=com");
  const Person b = person(2, "bob", {}, {}, "uid=bob,ou=people,dc=example,dc=com");
  EXPECT_TRUE(a.same_person(a2));
  EXPECT_TRUE(a.same_person(a));
  EXPECT_FALSE(a.same_person(b));
  Person no_entry = person(3, "x", {});
  no_entry.directory_entry.clear();
  Person other_no_entry = person(4, "y", {});
  other_no_entry.directory_entry.clear();
  EXPECT_FALSE(no_entry.same_person(other_no_entry)) << "empty entries are not a match";
}

TEST(Policy, FirstCoveringRuleDecides) {
  Policy policy;
  Rule db;
  db.name = "databases";
  db.hosts = {"group:db"};
  Rule web;
  web.name = "web";
  web.hosts = {"web*", "proxy01"};
  Rule rest;
  rest.name = "rest";
  rest.hosts = {"*"};
  policy.rules = {db, web, rest};
  EXPECT_EQ(policy.rule_for({"web01", ""})->name, "web");
  EXPECT_EQ(policy.rule_for({"web01", "db"})->name, "databases");
  EXPECT_EQ(policy.rule_for({"proxy01", ""})->name, "web");
  EXPECT_EQ(policy.rule_for({"proxy02", ""})->name, "rest");
  policy.rules = {db, web};
  EXPECT_EQ(policy.rule_for({"mail01", ""}), nullptr);
  EXPECT_EQ(policy.rule_for({"mail01", "dbx"}), nullptr);
}

TEST(Policy, ValidateNamesRuleAndKey) {
  Policy p = default_policy();
  EXPECT_TRUE(validate(p));
  p.rules[0].approvals = 0;
  auto v = validate(p);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message, "policy[0] (default).approvals: must be 1 to 16");
  p = default_policy();
  p.rules.push_back(p.rules[0]);
  v = validate(p);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("policy[1] (default).name"), std::string::npos);
  p = default_policy();
  p.rules[0].approvers.clear();
  EXPECT_FALSE(validate(p));
  p = default_policy();
  p.rules[0].max_duration = std::chrono::seconds(0);
  EXPECT_FALSE(validate(p));
}

}  // namespace
}  // namespace sekisho::approval
