// [rotation] and [[rotation.policy]] of the daemon's configuration: how many rotations run at
// once, how many previous versions are kept, and per host group the password policy, schedule
// and accounts of its rotations (rotation/rotation_policy.hpp).
#include <string>
#include <type_traits>
#include <utility>

#include "base/clock.hpp"
#include "base/names.hpp"
#include "broker/daemon/config_reader.hpp"
#include "rotation/rotation_policy.hpp"

namespace sekisho::broker::config_detail {

namespace {

// `t.key`, an integer in [low, high], into `out` when present.
Result<void> int_key(const ConfigReader& rd, const Table& t, const std::string& key,
                     const std::string& where, long long low, long long high, auto& out) {
  if (!t.contains(key)) return ok();
  const auto& v = t.as_table().at(key);
  if (!v.is_integer() || v.as_integer() < low || v.as_integer() > high) {
    return tl::make_unexpected(rd.error(
        where, "must be an integer from " + std::to_string(low) + " to " + std::to_string(high)));
  }
  out = static_cast<std::remove_reference_t<decltype(out)>>(v.as_integer());
  return ok();
}

// length, classes and avoid, then the whole password policy checked (check_policy's refusal
// names the rule: the three keys only fail together).
Result<void> read_password(const ConfigReader& rd, const Table& t, const std::string& at,
                           rotation::PasswordPolicy& password) {
  if (auto r = int_key(rd, t, "length", at + ".length",
                       static_cast<long long>(rotation::kMinPasswordLength),
                       static_cast<long long>(rotation::kMaxPasswordLength), password.length);
      !r) {
    return r;
  }
  if (t.contains("classes")) {
    auto names = string_list(rd, t, "classes", at + ".classes");
    if (!names) return tl::make_unexpected(names.error());
    password.classes.clear();
    for (const std::string& name : *names) {
      auto cls = rotation::parse_char_class(name);
      if (!cls) return tl::make_unexpected(rd.error(at + ".classes", cls.error().message));
      password.classes.push_back(*cls);
    }
  }
  if (t.contains("avoid")) {
    auto avoid = rd.string_at(t, at, "avoid");
    if (!avoid) return tl::make_unexpected(avoid.error());
    password.avoid = *avoid;
  }
  if (auto checked = rotation::check_policy(password); !checked) {
    return tl::make_unexpected(rd.error(at, checked.error().message));
  }
  return ok();
}

// every, the two accounts and the two flags.
Result<void> read_schedule_and_accounts(const ConfigReader& rd, const Table& t,
                                        const std::string& at, rotation::RotationRule& rule) {
  if (t.contains("every")) {
    auto text = rd.string_at(t, at, "every");
    if (!text) return tl::make_unexpected(text.error());
    auto every = parse_duration(*text);
    if (!every) return tl::make_unexpected(rd.error(at + ".every", every.error().message));
    rule.every = *every;
  }
  for (auto [key, field] :
       {std::pair{"rotation_account", &rotation::RotationRule::rotation_account},
        {"reconcile_account", &rotation::RotationRule::reconcile_account}}) {
    if (!t.contains(key)) continue;
    auto name = rd.string_at(t, at, key);
    if (!name) return tl::make_unexpected(name.error());
    if (auto valid = check_account_name(*name); !valid) {
      return tl::make_unexpected(rd.error(at + "." + key, valid.error().message));
    }
    rule.*field = *name;
  }
  for (auto [key, field] :
       {std::pair{"allow_unrotated_checkout", &rotation::RotationRule::allow_unrotated_checkout},
        {"check_old_refused", &rotation::RotationRule::check_old_refused}}) {
    if (!t.contains(key)) continue;
    const auto& v = t.as_table().at(key);
    if (!v.is_boolean()) {
      return tl::make_unexpected(rd.error(at + "." + key, "must be true or false"));
    }
    rule.*field = v.as_boolean();
  }
  return ok();
}

// One [[rotation.policy]] table, `at` naming it in errors ("rotation.policy[2]").
Result<rotation::RotationRule> read_rotation_rule(const ConfigReader& rd, const Table& t,
                                                  const std::string& at) {
  if (auto r = rd.only_keys(
          t, at,
          {"name", "hosts", "length", "classes", "avoid", "every", "allow_unrotated_checkout",
           "rotation_account", "reconcile_account", "check_old_refused"});
      !r) {
    return tl::make_unexpected(r.error());
  }
  for (const char* key : {"name", "hosts"}) {
    if (!t.contains(key)) return tl::make_unexpected(rd.error(at + "." + key, "required"));
  }
  rotation::RotationRule rule;
  auto name = rd.string_at(t, at, "name");
  if (!name) return tl::make_unexpected(name.error());
  if (name->empty()) return tl::make_unexpected(rd.error(at + ".name", "must not be empty"));
  rule.name = *name;
  auto hosts = string_list(rd, t, "hosts", at + ".hosts");
  if (!hosts) return tl::make_unexpected(hosts.error());
  if (hosts->empty()) {
    return tl::make_unexpected(rd.error(at + ".hosts", "must name at least one host"));
  }
  rule.hosts = std::move(*hosts);
  if (auto r = read_password(rd, t, at, rule.password); !r) return tl::make_unexpected(r.error());
  if (auto r = read_schedule_and_accounts(rd, t, at, rule); !r) {
    return tl::make_unexpected(r.error());
  }
  return rule;
}

// [[rotation.policy]] tables, in order: the first whose hosts cover a host decides for it.
Result<void> read_rotation_rules(const ConfigReader& rd, const Table& list,
                                 rotation::RotationSettings& settings) {
  if (!list.is_array()) {
    return tl::make_unexpected(rd.error("rotation.policy", "must be [[rotation.policy]] tables"));
  }
  for (const auto& t : list.as_array()) {
    const std::string at = "rotation.policy[" + std::to_string(settings.rules.size()) + "]";
    auto rule = read_rotation_rule(rd, t, at);
    if (!rule) return tl::make_unexpected(rule.error());
    for (std::size_t i = 0; i < settings.rules.size(); ++i) {
      if (settings.rules[i].name == rule->name) {
        return tl::make_unexpected(rd.error(
            at + ".name",
            "'" + rule->name + "' is already rotation.policy[" + std::to_string(i) + "]'s name"));
      }
    }
    settings.rules.push_back(std::move(*rule));
  }
  return ok();
}

}  // namespace

Result<void> read_rotation(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("rotation")) return ok();
  const auto& t = root.as_table().at("rotation");
  if (auto r = rd.only_keys(t, "rotation", {"concurrency", "keep_previous", "sweep", "policy"});
      !r) {
    return r;
  }
  if (t.contains("sweep")) {
    auto text = rd.string_at(t, "rotation", "sweep");
    if (!text) return tl::make_unexpected(text.error());
    auto d = parse_duration(*text);
    if (!d) return tl::make_unexpected(rd.error("rotation.sweep", d.error().message));
    config.rotation_sweep = *d;
  }
  rotation::RotationSettings& settings = config.rotation;
  if (auto r = int_key(rd, t, "concurrency", "rotation.concurrency", 1, 64, settings.concurrency);
      !r) {
    return r;
  }
  if (auto r =
          int_key(rd, t, "keep_previous", "rotation.keep_previous", 0, 20, settings.keep_previous);
      !r) {
    return r;
  }
  if (!t.contains("policy")) return ok();
  return read_rotation_rules(rd, t.as_table().at("policy"), settings);
}

}  // namespace sekisho::broker::config_detail
