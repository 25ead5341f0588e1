#include "broker/auth/login_throttle.hpp"

#include <algorithm>

namespace sekisho::broker {

std::string LoginThrottle::user_key(const std::string& user) {
  std::string key = "user:" + user;
  std::transform(key.begin(), key.end(), key.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return key;
}

bool LoginThrottle::locked_locked(const std::string& key, TimePoint now) {
  const auto it = entries_.find(key);
  return it != entries_.end() && it->second.locked_until > now;
}

bool LoginThrottle::fail_locked(const std::string& key, TimePoint now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxTracked) {
      entries_.erase(age_.front());
      age_.pop_front();
    }
    age_.push_back(key);
    it = entries_.emplace(key, Entry{{}, {}, std::prev(age_.end())}).first;
  } else {
    age_.splice(age_.end(), age_, it->second.age);  // now the newest
  }
  Entry& e = it->second;
  const TimePoint horizon = now - policy_.failure_window;
  e.failures.erase(std::remove_if(e.failures.begin(), e.failures.end(),
                                  [&](TimePoint t) { return t < horizon; }),
                   e.failures.end());
  e.failures.push_back(now);
  if (static_cast<int>(e.failures.size()) >= policy_.max_failures && e.locked_until <= now) {
    e.locked_until = now + policy_.lockout;
    e.failures.clear();
    return true;
  }
  return false;
}

bool LoginThrottle::locked(const std::string& user, const std::string& source) {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.now();
  return locked_locked(user_key(user), now) || locked_locked("source:" + source, now);
}

bool LoginThrottle::record_failure(const std::string& user, const std::string& source) {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.now();
  const bool by_user = fail_locked(user_key(user), now);
  const bool by_source = fail_locked("source:" + source, now);
  return by_user || by_source;
}

void LoginThrottle::record_success(const std::string& user) {
  std::lock_guard lock(mu_);
  const auto it = entries_.find(user_key(user));
  if (it == entries_.end()) return;
  age_.erase(it->second.age);
  entries_.erase(it);
}

}  // namespace sekisho::broker
