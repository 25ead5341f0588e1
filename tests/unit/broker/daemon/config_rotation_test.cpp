// [rotation] and [[rotation.policy]]: the keys read, their defaults and limits, and the exact
// refusal of every bad value.
#include <gtest/gtest.h>

#include "broker/daemon/config.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;
using rotation::CharClass;

std::string refusal(const std::string& toml) {
  auto config = parse_config(toml, "test.toml");
  if (config) return "accepted";
  EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
  return config.error().message;
}

// A [[rotation.policy]] table with `extra` lines added.
std::string rule(const std::string& extra) {
  return "[[rotation.policy]]\nname = \"linux\"\nhosts = [\"web*\"]\n" + extra + "\n";
}

TEST(ConfigRotationTest, WithoutTheSectionEveryHostGetsTheDefaults) {
  auto config = parse_config("", "test.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->rotation.rules.empty());
  EXPECT_EQ(config->rotation.concurrency, 4);
  EXPECT_EQ(config->rotation.keep_previous, 3);
  EXPECT_EQ(rotation::rule_for(config->rotation, "web01", "").name, "default");
}

TEST(ConfigRotationTest, ReadsEveryKey) {
  auto config = parse_config(R"(
[rotation]
concurrency = 16
keep_previous = 0
[[rotation.policy]]
name = "dmz"
hosts = ["group:dmz", "web*"]
length = 24
classes = ["lower", "upper", "digit"]
avoid = "Il1O0"
every = "30d"
allow_unrotated_checkout = true
rotation_account = "rotator"
reconcile_account = "breakglass"
check_old_refused = false
[[rotation.policy]]
name = "rest"
hosts = ["*"]
)",
                             "test.toml");
  ASSERT_TRUE(config) << config.error().message;
  const rotation::RotationSettings& settings = config->rotation;
  EXPECT_EQ(settings.concurrency, 16);
  EXPECT_EQ(settings.keep_previous, 0);
  ASSERT_EQ(settings.rules.size(), 2u);
  const rotation::RotationRule& dmz = settings.rules[0];
  EXPECT_EQ(dmz.name, "dmz");
  EXPECT_EQ(dmz.hosts, (std::vector<std::string>{"group:dmz", "web*"}));
  EXPECT_EQ(dmz.password.length, 24u);
  EXPECT_EQ(dmz.password.classes,
            (std::vector<CharClass>{CharClass::kLower, CharClass::kUpper, CharClass::kDigit}));
  EXPECT_EQ(dmz.password.avoid, "Il1O0");
  EXPECT_EQ(dmz.every, std::optional<std::chrono::seconds>(30 * 24h));
  EXPECT_TRUE(dmz.allow_unrotated_checkout);
  EXPECT_EQ(dmz.rotation_account, "rotator");
  EXPECT_EQ(dmz.reconcile_account, "breakglass");
  EXPECT_FALSE(dmz.check_old_refused);
  // A rule's unset keys keep the defaults.
  const rotation::RotationRule& rest = settings.rules[1];
  EXPECT_EQ(rest.password.length, 32u);
  EXPECT_EQ(rest.password.classes.size(), 4u);
  EXPECT_FALSE(rest.every);
  EXPECT_FALSE(rest.allow_unrotated_checkout);
  EXPECT_TRUE(rest.rotation_account.empty());
  EXPECT_TRUE(rest.check_old_refused);
  EXPECT_EQ(rotation::rule_for(settings, "mail", "dmz").name, "dmz");
  EXPECT_EQ(rotation::rule_for(settings, "db01", "").name, "rest");
}

TEST(ConfigRotationTest, RefusesConcurrencyAndKeepPreviousOutOfRange) {
  EXPECT_EQ(refusal("[rotation]\nconcurrency = 0"),
            "test.toml: rotation.concurrency: must be an integer from 1 to 64");
  EXPECT_EQ(refusal("[rotation]\nconcurrency = 65"),
            "test.toml: rotation.concurrency: must be an integer from 1 to 64");
  EXPECT_EQ(refusal("[rotation]\nconcurrency = \"4\""),
            "test.toml: rotation.concurrency: must be an integer from 1 to 64");
  EXPECT_EQ(refusal("[rotation]\nkeep_previous = -1"),
            "test.toml: rotation.keep_previous: must be an integer from 0 to 20");
  EXPECT_EQ(refusal("[rotation]\nkeep_previous = 21"),
            "test.toml: rotation.keep_previous: must be an integer from 0 to 20");
  EXPECT_EQ(refusal("[rotation]\nconcurrency = 64\nkeep_previous = 20"), "accepted");
}

TEST(ConfigRotationTest, ReadsTheSweepIntervalAndRefusesABadOne) {
  auto defaults = parse_config("", "test.toml");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->rotation_sweep, 30s);
  auto config = parse_config("[rotation]\nsweep = \"1h\"", "test.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->rotation_sweep, 1h);
  EXPECT_EQ(refusal("[rotation]\nsweep = \"soon\"").rfind("test.toml: rotation.sweep: ", 0), 0u);
  EXPECT_EQ(refusal("[rotation]\nsweep = 30").rfind("test.toml: rotation.sweep", 0), 0u);
}

TEST(ConfigRotationTest, RefusesUnknownKeys) {
  EXPECT_EQ(refusal("[rotation]\nparallel = 4"), "test.toml: rotation.parallel: unknown key");
  EXPECT_EQ(refusal(rule("lenght = 24")), "test.toml: rotation.policy[0].lenght: unknown key");
  EXPECT_EQ(refusal("[rotation]\npolicy = 3"),
            "test.toml: rotation.policy: must be [[rotation.policy]] tables");
}

TEST(ConfigRotationTest, RefusesARuleWithoutNameOrHosts) {
  EXPECT_EQ(refusal("[[rotation.policy]]\nhosts = [\"*\"]"),
            "test.toml: rotation.policy[0].name: required");
  EXPECT_EQ(refusal("[[rotation.policy]]\nname = \"x\""),
            "test.toml: rotation.policy[0].hosts: required");
  EXPECT_EQ(refusal("[[rotation.policy]]\nname = \"x\"\nhosts = []"),
            "test.toml: rotation.policy[0].hosts: must name at least one host");
  EXPECT_EQ(refusal("[[rotation.policy]]\nname = \"\"\nhosts = [\"*\"]"),
            "test.toml: rotation.policy[0].name: must not be empty");
  EXPECT_EQ(refusal("[[rotation.policy]]\nname = \"x\"\nhosts = \"web*\""),
            "test.toml: rotation.policy[0].hosts: must be a list of strings");
  EXPECT_EQ(refusal(rule("") + rule("")),
            "test.toml: rotation.policy[1].name: 'linux' is already rotation.policy[0]'s name");
}

TEST(ConfigRotationTest, RefusesABadPasswordPolicy) {
  EXPECT_EQ(refusal(rule("length = 12")),
            "test.toml: rotation.policy[0].length: must be an integer from 16 to 128");
  EXPECT_EQ(refusal(rule("length = 129")),
            "test.toml: rotation.policy[0].length: must be an integer from 16 to 128");
  EXPECT_EQ(refusal(rule("classes = [\"lower\", \"punct\"]")),
            "test.toml: rotation.policy[0].classes: unknown character class 'punct' (lower, "
            "upper, digit, symbol)");
  EXPECT_EQ(refusal(rule("classes = []")),
            "test.toml: rotation.policy[0]: the password policy names no character class");
  EXPECT_EQ(refusal(rule("classes = [\"digit\", \"digit\"]")),
            "test.toml: rotation.policy[0]: character class 'digit' is named twice");
  EXPECT_EQ(refusal(rule("classes = [\"digit\"]\navoid = \"0123456789\"")),
            "test.toml: rotation.policy[0]: 'avoid' removes every character of class 'digit'");
  EXPECT_EQ(refusal(rule("classes = [\"digit\"]\nlength = 20")),
            "test.toml: rotation.policy[0]: the password policy gives 66 bits of randomness, "
            "fewer than 80 (a longer length or more character classes)");
  EXPECT_EQ(refusal(rule("avoid = 7")), "test.toml: rotation.policy[0].avoid: must be a string");
}

TEST(ConfigRotationTest, RefusesABadScheduleAccountOrFlag) {
  EXPECT_EQ(refusal(rule("every = \"monthly\"")),
            "test.toml: rotation.policy[0].every: not a duration (like 30s, 15m, 8h, 7d): "
            "'monthly'");
  EXPECT_EQ(refusal(rule("every = \"0d\"")).rfind("test.toml: rotation.policy[0].every: ", 0), 0u);
  EXPECT_EQ(refusal(rule("rotation_account = \"root; rm\"")),
            "test.toml: rotation.policy[0].rotation_account: account name must be 1-64 "
            "characters of letters, digits, '.', '_' or '-'");
  EXPECT_EQ(refusal(rule("reconcile_account = \"\"")),
            "test.toml: rotation.policy[0].reconcile_account: account name must be 1-64 "
            "characters of letters, digits, '.', '_' or '-'");
  EXPECT_EQ(refusal(rule("check_old_refused = \"no\"")),
            "test.toml: rotation.policy[0].check_old_refused: must be true or false");
  EXPECT_EQ(refusal(rule("allow_unrotated_checkout = 1")),
            "test.toml: rotation.policy[0].allow_unrotated_checkout: must be true or false");
}

}  // namespace
}  // namespace sekisho::broker
