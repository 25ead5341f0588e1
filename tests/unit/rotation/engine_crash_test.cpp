// A rotation never loses a password: the gateway dies right after any step of rotate() (a vault
// write, a change on the host, a login), then after any step of the recovery that follows the
// restart, and the next recovery always ends with a vault `current` that the host accepts.
#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <memory>
#include <ostream>

#include "tests/unit/rotation/fakes.hpp"

namespace sekisho::rotation::testing {
namespace {

const std::string kOld = "old-password-0";
const Target kTarget{"web01", "root", "password"};

struct World {
  Steps steps;
  FakeVault vault{steps, kOld};
  FakeHost host{steps, kOld};
  int generated = 0;
};

struct Scenario {
  std::string name;
  std::function<void(World&)> setup;
  EngineOptions options;
};

// gtest names a failing parameter by this instead of dumping its bytes.
void PrintTo(const Scenario& scenario, std::ostream* out) { *out << scenario.name; }

void run_rotate(World& world, const EngineOptions& options) {
  SecretSource source = [&world](const Target&) -> Result<Secret> {
    return Secret::copy_of("new-password-" + std::to_string(++world.generated));
  };
  (void)rotate(kTarget, world.vault, world.host, source, EventSink{}, options);
}

// A world whose gateway died after step `crash_at` of rotate(); `crashed` false when rotate()
// has fewer steps. The restarted gateway finds a host that behaves (the scripts were about the
// run that died).
std::unique_ptr<World> after_crash(const Scenario& scenario, int crash_at, bool& crashed) {
  auto world = std::make_unique<World>();
  scenario.setup(*world);
  world->steps.crash_after(crash_at);
  crashed = false;
  try {
    run_rotate(*world, scenario.options);
  } catch (const Crash&) {
    crashed = true;
  }
  world->steps.crash_after(0);
  world->host.change_says.reset();
  world->host.login_says.clear();
  return world;
}

bool host_accepts_the_vault(const World& world) {
  return world.vault.current && !world.vault.pending && world.host.accepts(*world.vault.current);
}

class CrashTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(CrashTest, EveryCrashPointEndsOnAPasswordTheHostAccepts) {
  const Scenario& scenario = GetParam();
  int crash_points = 0;
  for (int rotate_crash = 1;; ++rotate_crash) {
    bool crashed = false;
    after_crash(scenario, rotate_crash, crashed);
    if (!crashed) break;
    ++crash_points;
    // The recovery after the restart dies too, after each of its own steps, then runs again.
    for (int recover_crash = 1;; ++recover_crash) {
      std::unique_ptr<World> world = after_crash(scenario, rotate_crash, crashed);
      world->steps.crash_after(recover_crash);
      bool recover_crashed = false;
      try {
        (void)recover(kTarget, world->vault, world->host, EventSink{});
      } catch (const Crash&) {
        recover_crashed = true;
      }
      world->steps.crash_after(0);
      const Report last = recover(kTarget, world->vault, world->host, EventSink{});
      EXPECT_TRUE(host_accepts_the_vault(*world))
          << scenario.name << ": crash after rotate step " << rotate_crash << " ("
          << world->steps.log[static_cast<std::size_t>(rotate_crash - 1)] << "), recover step "
          << recover_crash << ", last recovery: " << last.message;
      if (!recover_crashed) break;
    }
  }
  // Not vacuous: every scenario has at least store, change and a login to die after.
  EXPECT_GE(crash_points, 3) << scenario.name;
}

INSTANTIATE_TEST_SUITE_P(
    Scenarios, CrashTest,
    ::testing::Values(
        Scenario{"normal", [](World&) {}, {}},
        Scenario{"no old-password check", [](World&) {}, EngineOptions{.check_old_refused = false}},
        Scenario{"change cut off after it ran",
                 [](World& w) {
                   w.host.change_says = ChangeOutcome::kUnknown;
                   w.host.change_applies = true;
                 },
                 {}},
        Scenario{"change cut off before it ran",
                 [](World& w) { w.host.change_says = ChangeOutcome::kUnknown; },
                 {}},
        Scenario{"change reported but not made",
                 [](World& w) { w.host.change_says = ChangeOutcome::kChanged; },
                 {}},
        Scenario{"password rejected by the host",
                 [](World& w) { w.host.change_says = ChangeOutcome::kPasswordRejected; },
                 {}},
        Scenario{"verify login unreachable",
                 [](World& w) { w.host.login_says = {LoginOutcome::kUnreachable}; },
                 {}},
        Scenario{"host accepts any password", [](World& w) { w.host.accepts_anything = true; }, {}},
        Scenario{"first password used elsewhere",
                 [](World& w) { w.vault.used_elsewhere = {"new-password-1"}; },
                 {}}),
    [](const ::testing::TestParamInfo<Scenario>& param) {
      std::string name;
      for (char c : param.param.name) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

}  // namespace
}  // namespace sekisho::rotation::testing
