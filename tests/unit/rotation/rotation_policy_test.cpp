#include "rotation/rotation_policy.hpp"

#include <gtest/gtest.h>

namespace sekisho::rotation {
namespace {

using namespace std::chrono_literals;

const TimePoint kCreated = TimePoint(std::chrono::seconds(1'800'000'000));

RotationRule rule(std::string name, std::vector<std::string> hosts) {
  RotationRule r;
  r.name = std::move(name);
  r.hosts = std::move(hosts);
  return r;
}

TEST(RotationRuleTest, CoversNamesGlobsAndGroups) {
  const RotationRule r = rule("web", {"web*", "db01", "group:dmz"});
  EXPECT_TRUE(r.covers("web01", ""));
  EXPECT_TRUE(r.covers("db01", ""));
  EXPECT_TRUE(r.covers("mail", "dmz"));
  EXPECT_FALSE(r.covers("db02", ""));
  EXPECT_FALSE(r.covers("mail", "core"));
  EXPECT_FALSE(r.covers("mail", ""));
  // "group:" names a group, never a host called that.
  EXPECT_FALSE(rule("g", {"group:dmz"}).covers("group:dmz", ""));
}

TEST(RuleForTest, TheFirstCoveringRuleWins) {
  RotationSettings settings;
  settings.rules = {rule("dmz", {"group:dmz"}), rule("web", {"web*"}), rule("all", {"*"})};
  EXPECT_EQ(rule_for(settings, "web01", "dmz").name, "dmz");
  EXPECT_EQ(rule_for(settings, "web01", "").name, "web");
  EXPECT_EQ(rule_for(settings, "db01", "").name, "all");
}

TEST(RuleForTest, AHostNoRuleCoversGetsTheBuiltInDefault) {
  RotationSettings settings;
  settings.rules = {rule("web", {"web*"})};
  const RotationRule& fallback = rule_for(settings, "db01", "");
  EXPECT_EQ(&fallback, &default_rotation_rule());
  EXPECT_EQ(fallback.name, "default");
  EXPECT_EQ(fallback.password.length, 32u);
  EXPECT_EQ(fallback.password.classes.size(), 4u);
  EXPECT_TRUE(fallback.password.avoid.empty());
  EXPECT_FALSE(fallback.every);
  EXPECT_FALSE(fallback.allow_unrotated_checkout);
  EXPECT_TRUE(fallback.rotation_account.empty());
  EXPECT_TRUE(fallback.reconcile_account.empty());
  EXPECT_TRUE(fallback.check_old_refused);
  EXPECT_TRUE(check_policy(fallback.password));
  EXPECT_EQ(rule_for(RotationSettings{}, "anything", "").name, "default");
}

TEST(RotationSettingsTest, Defaults) {
  const RotationSettings settings;
  EXPECT_TRUE(settings.rules.empty());
  EXPECT_EQ(settings.concurrency, 4);
  EXPECT_EQ(settings.keep_previous, 3);
}

TEST(ScheduleTest, NextDueIsOneIntervalAfterTheLastRotation) {
  EXPECT_EQ(next_due(kCreated, 30 * 24h), kCreated + 30 * 24h);
  EXPECT_EQ(next_due(kCreated, 1s), kCreated + 1s);
}

TEST(ScheduleTest, NextDueSaturatesInsteadOfOverflowing) {
  EXPECT_EQ(next_due(kCreated, std::chrono::seconds(400LL * 365 * 86400)), TimePoint::max());
  EXPECT_EQ(next_due(TimePoint::max() - 1s, 2s), TimePoint::max());
  EXPECT_EQ(next_due(kCreated, std::chrono::seconds::max()), TimePoint::max());
}

TEST(ScheduleTest, DueFromTheMomentTheIntervalHasPassed) {
  EXPECT_FALSE(is_due(kCreated, 7 * 24h, kCreated));
  EXPECT_FALSE(is_due(kCreated, 7 * 24h, kCreated + 7 * 24h - 1s));
  EXPECT_TRUE(is_due(kCreated, 7 * 24h, kCreated + 7 * 24h));
  EXPECT_TRUE(is_due(kCreated, 7 * 24h, kCreated + 30 * 24h));
}

TEST(ScheduleTest, NeverDueWithoutASchedule) {
  EXPECT_FALSE(is_due(kCreated, std::nullopt, kCreated + 10000 * 24h));
}

}  // namespace
}  // namespace sekisho::rotation
