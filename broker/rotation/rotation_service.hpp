// The core's rotation service (DESIGN.md "Password rotation"): it owns every rotation of every
// vaulted account. It runs the engine (rotation/engine.hpp) over the store (StoreVault) and the
// connector of the host's protocol, serialises the work per account (never two rotations of one
// account at once), bounds how many accounts are worked on at once ([rotation] concurrency),
// audits every engine step (rotation.start/changed/verified/failed/recovered/unknown, actor = who
// caused it or "system") and notifies the webhooks when a rotation fails or leaves an account
// unknown. No secret reaches a log line, an audit event, a notification or an error.
//
// Accounts it cannot rotate are "manual": hosts whose protocol has no connector (rdp), vaulted
// keys (key rotation is not built yet) and the accounts of retired hosts. They are never reported
// as rotated.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.hpp"
#include "broker/access/notifier.hpp"
#include "broker/rotation/rotation_trigger.hpp"
#include "rotation/engine.hpp"
#include "rotation/rotation_policy.hpp"
#include "storage/audit_log.hpp"
#include "storage/credentials.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// What the service works with; everything outlives it.
struct RotationServiceContext {
  storage::Store& store;
  storage::AuditLog& audit;
  const Clock& clock;
  const rotation::RotationSettings& settings;
  // The connector for a host protocol ("ssh", "ldap"); null when there is none (the accounts of
  // such hosts are manual). Called from any thread.
  std::function<rotation::Connector*(const std::string& protocol)> connector_for;
  // [[notify.webhook]]; null: none configured (the audit events remain).
  Notifier* notifier = nullptr;
  // The CSPRNG for new passwords; empty: base/crypto's random_fill.
  rotation::RandomBytes random{};
  // After a failed attempt (host refused, unreachable, in doubt), the background work leaves the
  // account alone this long, so that a broken host is not hammered (and audited) every sweep.
  std::chrono::seconds retry_after{std::chrono::minutes(10)};
  // An account in doubt is asked about (which password does the host take?) no sooner than this
  // after start(): a change sent by a worker of the previous run, killed with it, may still be
  // reaching its host's chpasswd, and asking first could settle on the old password just before
  // the host switches to the new one.
  std::chrono::milliseconds settle_after_start{3000};
};

// What became of one account, as a job reports it.
struct AccountOutcome {
  // "rotated", "recovered", "failed", "in doubt", "unknown", "error", and for accounts left
  // alone: "manual" (no connector), "skipped" (checked out).
  std::string outcome;
  std::string message;  // one line; no secret
  bool failed = false;
};

class RotationService final : public RotationTrigger {
 public:
  explicit RotationService(RotationServiceContext ctx);
  ~RotationService() override;  // stop()s
  RotationService(const RotationService&) = delete;
  RotationService& operator=(const RotationService&) = delete;

  // Start-up: marks the jobs a previous run left running as interrupted (their owed rotations
  // stay owed in the accounts), starts the background workers and queues every account in doubt,
  // owed a rotation or due on schedule. Returns without waiting for any host. Once.
  [[nodiscard]] Result<void> start();
  // Stops the background workers: an account being worked on is finished first, queued ones stay
  // owed in the store. Idempotent; any thread but a worker's.
  void stop();

  // One pass of the periodic sweep: queues every account in doubt (to recover), owed a rotation,
  // or due on its schedule, never one with an open check-out; returns how many were queued.
  // Accounts that failed within retry_after are left for a later pass. Any thread.
  [[nodiscard]] Result<int> sweep();

  // Rotates `account_id` on the caller's thread: waits for the account's turn and a concurrency
  // slot, settles the account first when it is in doubt, then rotates it. `reason` goes to the
  // audit events. Blocking; any thread.
  AccountOutcome rotate_account(std::int64_t account_id, const std::string& actor,
                                const std::string& reason);

  // Whether an account of `row` can be rotated at all (a connector for its host's protocol, a
  // password credential, a host not retired). Any thread.
  bool rotatable(const storage::AccountRow& row) const;
  const rotation::RotationSettings& settings() const { return ctx_.settings; }

  Result<void> rotate_soon(std::int64_t account_id, const std::string& reason,
                           const std::string& actor) override;
  Result<void> await_settled(std::int64_t account_id, std::chrono::milliseconds limit) override;

 private:
  class AccountTurn;
  struct Queued {
    std::int64_t account_id;
    std::string actor;
  };

  void enqueue(std::int64_t account_id, const std::string& actor);
  void worker_loop();
  void work_on(const Queued& item);
  Result<std::optional<storage::AccountRow>> load_row(std::int64_t account_id);
  // Runs the engine once (rotate or recover) for `row`; the caller holds the account's turn.
  rotation::Report run_engine(const storage::AccountRow& row, const std::string& actor,
                              const std::string& reason, bool recover_only);
  void audit_event(const rotation::Event& event, const std::string& actor,
                   const std::string& reason);
  void note_attempt(std::int64_t account_id, const rotation::Report& report);
  bool backing_off(std::int64_t account_id);
  void take_slot();
  void give_slot();

  RotationServiceContext ctx_;
  std::mutex mu_;  // everything below
  std::condition_variable changed_;
  std::set<std::int64_t> busy_;    // accounts whose turn is taken
  std::deque<Queued> queue_;       // background work, in order
  std::set<std::int64_t> queued_;  // the accounts in queue_
  std::map<std::int64_t, std::chrono::steady_clock::time_point> retry_at_;
  int free_slots_;
  bool started_ = false;
  // start() + settle_after_start: no recovery asks a host before this (steady clock).
  std::chrono::steady_clock::time_point recover_not_before_{};
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace sekisho::broker
