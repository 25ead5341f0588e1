// What the engine tests share: one account (root@web01) whose vault and host both start with the
// same password, a secret source that hands out new-password-1, -2, …, and the events seen.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rotation/engine.hpp"
#include "tests/unit/rotation/fakes.hpp"

namespace sekisho::rotation::testing {

inline const std::string kOld = "old-password-0";

class EngineTest : public ::testing::Test {
 protected:
  Report rotate_now(const EngineOptions& options = {}) {
    Report report = rotate(target, vault, host, source(), sink(), options);
    messages.push_back(report.message);
    return report;
  }
  Report recover_now() {
    Report report = recover(target, vault, host, sink());
    messages.push_back(report.message);
    return report;
  }

  SecretSource source() {
    return [this](const Target&) -> Result<Secret> {
      if (!generate_error.empty()) return fail(ErrorCode::kInternal, generate_error);
      ++generated;
      return Secret::copy_of(new_password(generated));
    };
  }
  EventSink sink() {
    return [this](const Event& event) {
      EXPECT_EQ(event.target.host, "web01");
      EXPECT_EQ(event.target.account, "root");
      kinds.push_back(to_string(event.kind));
      messages.push_back(event.detail);
    };
  }
  static std::string new_password(int n) { return "new-password-" + std::to_string(n); }

  // The account is settled and the host accepts what the vault calls current.
  bool settled_on_a_working_password() const {
    return vault.current && !vault.pending && host.accepts(*vault.current);
  }
  bool current_is(const std::string& secret) const { return vault.current == secret; }

  // No report or event detail holds a secret (checked after every test, never printed).
  void TearDown() override {
    std::vector<std::string> secrets{kOld, host.password};
    for (int n = 1; n <= generated; ++n) secrets.push_back(new_password(n));
    for (const auto& version : {vault.current, vault.pending}) {
      if (version) secrets.push_back(*version);
    }
    secrets.insert(secrets.end(), vault.previous.begin(), vault.previous.end());
    for (const std::string& message : messages) {
      for (const std::string& secret : secrets) {
        EXPECT_EQ(message.find(secret), std::string::npos) << "a message names a secret";
      }
    }
  }

  Target target{"web01", "root", "password"};
  Steps steps;
  FakeVault vault{steps, kOld};
  FakeHost host{steps, kOld};
  std::vector<std::string> kinds;     // the events' names, in order
  std::vector<std::string> messages;  // every report message and event detail
  std::string generate_error;
  int generated = 0;
};

using Kinds = std::vector<std::string>;

}  // namespace sekisho::rotation::testing
