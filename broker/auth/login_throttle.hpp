// LoginThrottle: refuses logins for a user name or a source address after repeated failures.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.hpp"

namespace sekisho::broker {

struct ThrottlePolicy {
  int max_failures = 5;                          // failures that trigger a lockout…
  std::chrono::seconds failure_window{15 * 60};  // …within this window
  std::chrono::seconds lockout{15 * 60};         // refused for this long afterwards
};

// In memory: a restart forgets failures (documented in docs/api.md). Thread-safe. Keys are kept
// per user name and per source address; at most `kMaxTracked` keys, the one whose last failure
// is oldest dropped first.
//
// User names are compared without regard to ASCII case: LDAP and Active Directory match login
// names case-insensitively, so "Alice" and "ALICE" are one person with one budget (for the local
// directory this only ever joins budgets, never splits them).
class LoginThrottle {
 public:
  LoginThrottle(ThrottlePolicy policy, const Clock& clock) : policy_(policy), clock_(clock) {}

  // True when a login for `user` from `source` must be refused now.
  bool locked(const std::string& user, const std::string& source);
  // Counts a failure; returns true when this failure started a lockout.
  bool record_failure(const std::string& user, const std::string& source);
  // Clears the user's failures (not the source's: one good login must not unlock a source that
  // is guessing other users' passwords).
  void record_success(const std::string& user);

  // The key a user name is counted under: its ASCII lower case. Pure; any thread.
  static std::string user_key(const std::string& user);

  static constexpr std::size_t kMaxTracked = 100000;

 private:
  struct Entry {
    std::vector<TimePoint> failures;
    TimePoint locked_until{};
    std::list<std::string>::iterator age;  // its place in age_
  };
  bool locked_locked(const std::string& key, TimePoint now);
  bool fail_locked(const std::string& key, TimePoint now);

  ThrottlePolicy policy_;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  // Keys by the time of their last failure, oldest first: what a full table drops.
  std::list<std::string> age_;
};

}  // namespace sekisho::broker
