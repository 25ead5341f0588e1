// A scripted fleet for the rotation service's tests: each ACCOUNT@HOST accepts one password; a
// change either takes the new one or answers what the test scripted; every call can be made to
// wait at a gate, so that a test sees how many run at once.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "rotation/connector.hpp"

namespace sekisho::testing {

class FakeFleet final : public rotation::Connector {
 public:
  void set_password(const std::string& target, const std::string& password) {
    std::lock_guard lock(mu_);
    accepted_[target] = password;
  }
  std::string password(const std::string& target) {
    std::lock_guard lock(mu_);
    return accepted_[target];
  }
  // The next changes answer `outcome` (kChanged: the host takes the new password).
  void script_change(rotation::ChangeOutcome outcome, std::string message = "") {
    std::lock_guard lock(mu_);
    change_outcome_ = outcome;
    change_message_ = std::move(message);
  }
  // While held, change() waits (bounded) for release() once it is running: a test lets calls
  // pile up to see how many the service lets in at once.
  void hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  // Waits (bounded) until `n` changes are in flight at once; false when that did not happen.
  bool wait_in_flight(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return in_flight_ >= n; });
  }
  // Waits (bounded) until `n` changes have finished in all.
  bool wait_changes(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return changes_ >= n; });
  }
  int max_in_flight() {
    std::lock_guard lock(mu_);
    return max_in_flight_;
  }
  int max_in_flight_per_target() {
    std::lock_guard lock(mu_);
    return max_per_target_;
  }
  int changes() {
    std::lock_guard lock(mu_);
    return changes_;
  }

  rotation::ChangeResult change(const rotation::Target& t, const Secret& current,
                                const Secret& next) override {
    const std::string key = t.account + "@" + t.host;
    std::unique_lock lock(mu_);
    ++in_flight_;
    ++per_target_[key];
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    max_per_target_ = std::max(max_per_target_, per_target_[key]);
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return !held_; });
    rotation::ChangeResult result{change_outcome_, change_message_};
    if (accepted_[key] != std::string(current.view())) {
      result = {rotation::ChangeOutcome::kRefusedOld, "Permission denied"};
    } else if (change_outcome_ == rotation::ChangeOutcome::kChanged) {
      accepted_[key] = std::string(next.view());
    }
    --in_flight_;
    --per_target_[key];
    ++changes_;
    cv_.notify_all();
    return result;
  }
  rotation::ChangeResult reset(const rotation::Target&, const Secret&) override {
    return {rotation::ChangeOutcome::kRefusedOld, "no reconcile account"};
  }
  rotation::LoginResult try_login(const rotation::Target& t, const Secret& secret) override {
    std::lock_guard lock(mu_);
    const bool ok = accepted_[t.account + "@" + t.host] == std::string(secret.view());
    return {ok ? rotation::LoginOutcome::kAccepted : rotation::LoginOutcome::kRefused, ""};
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> accepted_;
  rotation::ChangeOutcome change_outcome_ = rotation::ChangeOutcome::kChanged;
  std::string change_message_;
  bool held_ = false;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  std::map<std::string, int> per_target_;
  int max_per_target_ = 0;
  int changes_ = 0;
};

}  // namespace sekisho::testing
