// Fakes for the rotation engine's ports: an in-memory vault and a scripted host, both counting
// their steps so that a test can "crash" the engine right after any one of them took effect.
// Secrets here are test strings; the tests compare them but never print them.
#pragma once

#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rotation/engine.hpp"

namespace sekisho::rotation::testing {

// Thrown by a fake right after a step took effect: the gateway died there.
struct Crash {};

// The steps of one run, in order; throws Crash after step number `crash_after` (1-based; 0 never).
class Steps {
 public:
  void crash_after(int step) {
    crash_after_ = step;
    count_ = 0;
  }
  void done(const std::string& name) {
    log.push_back(name);
    if (++count_ == crash_after_) throw Crash{};
  }
  std::vector<std::string> log;

 private:
  int crash_after_ = 0;
  int count_ = 0;
};

inline std::string text_of(const Secret& secret) { return std::string(secret.view()); }

// One account's versions in memory. A call named in `failing` fails with kIo (before any effect);
// a password in `used_elsewhere` is refused by store_pending as current on another host.
class FakeVault : public VaultPort {
 public:
  FakeVault(Steps& steps, std::string initial) : steps_(steps), current(std::move(initial)) {}

  Result<Versions> load(const Target&) override {
    if (failing.count("load")) return fail(ErrorCode::kIo, "the vault's disk is gone");
    Versions v;
    if (current) v.current = Secret::copy_of(*current);
    if (pending) v.pending = Secret::copy_of(*pending);
    steps_.done("load");
    return v;
  }
  Result<void> store_pending(const Target&, const Secret& next) override {
    if (failing.count("store_pending")) return fail(ErrorCode::kIo, "the vault's disk is full");
    if (pending) return fail(ErrorCode::kAlreadyExists, "a version is pending");
    if (used_elsewhere.count(text_of(next))) {
      return fail(ErrorCode::kInvalidArgument, "that password is current on another host");
    }
    pending = text_of(next);
    stored.push_back(*pending);
    steps_.done("store_pending");
    return ok();
  }
  Result<void> promote_pending(const Target&) override {
    if (failing.count("promote_pending")) return fail(ErrorCode::kIo, "the vault's disk is full");
    if (!pending) return fail(ErrorCode::kNotFound, "nothing pending");
    if (current) previous.push_back(*current);
    current = std::move(pending);
    pending.reset();
    error.clear();
    unknown.clear();
    steps_.done("promote_pending");
    return ok();
  }
  Result<void> discard_pending(const Target&) override {
    if (failing.count("discard_pending")) return fail(ErrorCode::kIo, "the vault's disk is full");
    pending.reset();
    steps_.done("discard_pending");
    return ok();
  }
  Result<void> record_failure(const Target&, const std::string& why) override {
    if (failing.count("record_failure")) return fail(ErrorCode::kIo, "the vault's disk is full");
    error = why;
    steps_.done("record_failure");
    return ok();
  }
  Result<void> mark_unknown(const Target&, const std::string& why) override {
    if (failing.count("mark_unknown")) return fail(ErrorCode::kIo, "the vault's disk is full");
    unknown = why;
    steps_.done("mark_unknown");
    return ok();
  }

 private:
  Steps& steps_;

 public:
  std::optional<std::string> current;
  std::optional<std::string> pending;
  std::vector<std::string> previous;
  std::vector<std::string> stored;  // every secret ever stored as pending
  std::string error;
  std::string unknown;
  std::set<std::string> failing;
  std::set<std::string> used_elsewhere;
};

// A host that accepts one password. Unscripted, it behaves: change() sets the new password when
// the given current one logs in, reset() works when it has a reconcile account, try_login() tells
// the truth. Scripts override the next answers (and say whether a scripted change took effect).
class FakeHost : public Connector {
 public:
  FakeHost(Steps& steps, std::string initial) : steps_(steps), password(std::move(initial)) {}

  bool accepts(const std::string& secret) const { return accepts_anything || secret == password; }

  ChangeResult change(const Target&, const Secret& current, const Secret& next) override {
    ++changes;
    ChangeResult result;
    if (change_says) {
      result = {*change_says, "scripted"};
      if (change_applies) password = text_of(next);
    } else if (!reachable) {
      result = {ChangeOutcome::kUnreachable, "connection refused"};
    } else if (!accepts(text_of(current))) {
      result = {ChangeOutcome::kRefusedOld, "Permission denied"};
    } else {
      password = text_of(next);
      result = {ChangeOutcome::kChanged, ""};
    }
    steps_.done("change");
    return result;
  }
  ChangeResult reset(const Target&, const Secret& next) override {
    ++resets;
    ChangeResult result;
    if (reset_says) {
      result = {*reset_says, "scripted"};
      if (reset_applies) password = text_of(next);
    } else if (!reconcile) {
      result = {ChangeOutcome::kRefusedOld, "no reconcile account"};
    } else if (!reachable) {
      result = {ChangeOutcome::kUnreachable, "connection refused"};
    } else {
      password = text_of(next);
      result = {ChangeOutcome::kChanged, ""};
    }
    steps_.done("reset");
    return result;
  }
  LoginResult try_login(const Target&, const Secret& secret) override {
    ++logins;
    LoginResult result;
    if (!login_says.empty()) {
      result = {login_says.front(), "scripted"};
      login_says.pop_front();
    } else if (!reachable) {
      result = {LoginOutcome::kUnreachable, "connection refused"};
    } else {
      result = {accepts(text_of(secret)) ? LoginOutcome::kAccepted : LoginOutcome::kRefused, ""};
    }
    steps_.done("login");
    return result;
  }

 private:
  Steps& steps_;

 public:
  std::string password;
  bool accepts_anything = false;  // a PAM stack that takes any password
  bool reachable = true;
  bool reconcile = false;
  std::optional<ChangeOutcome> change_says;
  bool change_applies = false;
  std::optional<ChangeOutcome> reset_says;
  bool reset_applies = false;
  std::deque<LoginOutcome> login_says;
  int changes = 0;
  int resets = 0;
  int logins = 0;
};

}  // namespace sekisho::rotation::testing
