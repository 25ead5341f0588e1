#include "broker/rotation/rotation_service.hpp"

#include <algorithm>

#include "base/crypto.hpp"
#include "base/logging.hpp"
#include "broker/rotation/account_state.hpp"
#include "broker/rotation/store_vault.hpp"
#include "storage/jobs.hpp"

namespace sekisho::broker {

namespace {

using storage::Store;
using SteadyClock = std::chrono::steady_clock;

std::string target_text(const storage::AccountRow& row) { return row.account + "@" + row.host; }

// The account with `account_id`, if any. The store looks accounts up by name; the list is read
// once per call, which costs little next to a login to the host.
Result<std::optional<storage::AccountRow>> account_row(Store::Tx& tx, std::int64_t account_id) {
  storage::AccountFilter all;
  all.include_retired = true;
  auto rows = storage::list_account_rows(tx, all);
  if (!rows) return tl::make_unexpected(rows.error());
  for (auto& row : *rows) {
    if (row.id == account_id) return std::optional<storage::AccountRow>(std::move(row));
  }
  return std::optional<storage::AccountRow>();
}

AccountOutcome outcome_of(const rotation::Report& report) {
  using rotation::Outcome;
  switch (report.outcome) {
    case Outcome::kRotated:
      return {"rotated", report.message, false};
    case Outcome::kRecovered:
      return {"recovered", report.message, false};
    case Outcome::kUnchanged:
      return {"failed", report.message, true};
    case Outcome::kInDoubt:
      return {"in doubt", report.message, true};
    case Outcome::kUnknown:
      return {"unknown", report.message, true};
    case Outcome::kError:
      break;
  }
  return {"error", report.message, true};
}

}  // namespace

// The turn of one account: while it is held nobody else runs the engine on that account.
class RotationService::AccountTurn {
 public:
  // Waits for the turn (blocking).
  AccountTurn(RotationService& service, std::int64_t account_id)
      : service_(service), account_id_(account_id) {
    std::unique_lock lock(service_.mu_);
    service_.changed_.wait(lock, [&] { return !service_.busy_.contains(account_id_); });
    service_.busy_.insert(account_id_);
  }
  ~AccountTurn() {
    {
      std::lock_guard lock(service_.mu_);
      service_.busy_.erase(account_id_);
    }
    service_.changed_.notify_all();
  }
  AccountTurn(const AccountTurn&) = delete;
  AccountTurn& operator=(const AccountTurn&) = delete;

 private:
  RotationService& service_;
  std::int64_t account_id_;
};

RotationService::RotationService(RotationServiceContext ctx)
    : ctx_(std::move(ctx)), free_slots_(std::max(1, ctx_.settings.concurrency)) {
  if (!ctx_.random) ctx_.random = [](std::span<std::uint8_t> out) { random_fill(out); };
}

RotationService::~RotationService() { stop(); }

Result<void> RotationService::start() {
  auto interrupted = 0;
  auto r = ctx_.store.transact([&](Store::Tx& tx) -> Result<void> {
    auto n = storage::interrupt_running_jobs(tx, format_time(ctx_.clock.now()));
    if (!n) return tl::make_unexpected(n.error());
    interrupted = *n;
    return ok();
  });
  if (!r) return r;
  if (interrupted > 0) {
    module_logger("rotation")
        ->warn("{} job(s) left running by the previous run are interrupted", interrupted);
  }
  {
    std::lock_guard lock(mu_);
    if (started_) return ok();
    started_ = true;
    recover_not_before_ = std::chrono::steady_clock::now() + ctx_.settle_after_start;
    for (int i = 0; i < std::max(1, ctx_.settings.concurrency); ++i) {
      workers_.emplace_back([this] { worker_loop(); });
    }
  }
  auto queued = sweep();
  if (!queued) return tl::make_unexpected(queued.error());
  return ok();
}

void RotationService::stop() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    workers.swap(workers_);
  }
  changed_.notify_all();
  for (auto& t : workers) t.join();
}

bool RotationService::rotatable(const storage::AccountRow& row) const {
  return !row.host_retired && row.kind == "password" && ctx_.connector_for &&
         ctx_.connector_for(row.protocol);
}

Result<int> RotationService::sweep() {
  std::vector<storage::AccountRow> rows;
  auto r = ctx_.store.read([&](Store::Tx& tx) -> Result<void> {
    auto list = storage::list_account_rows(tx, {});
    if (!list) return tl::make_unexpected(list.error());
    rows = std::move(*list);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  const TimePoint now = ctx_.clock.now();
  int queued = 0;
  for (const auto& row : rows) {
    const bool in_doubt = row.status == "pending" && rotatable(row);
    if (!in_doubt && rotation_reason_now(row, ctx_.settings, rotatable(row), now).empty()) continue;
    if (backing_off(row.id)) continue;
    enqueue(row.id, "system");
    ++queued;
  }
  return queued;
}

void RotationService::enqueue(std::int64_t account_id, const std::string& actor) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queued_.contains(account_id)) return;
    queued_.insert(account_id);
    queue_.push_back({account_id, actor});
  }
  changed_.notify_all();
}

void RotationService::worker_loop() {
  for (;;) {
    Queued item;
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      queued_.erase(item.account_id);
    }
    work_on(item);
  }
}

bool RotationService::backing_off(std::int64_t account_id) {
  std::lock_guard lock(mu_);
  const auto it = retry_at_.find(account_id);
  return it != retry_at_.end() && SteadyClock::now() < it->second;
}

void RotationService::note_attempt(std::int64_t account_id, const rotation::Report& report) {
  const bool failed = outcome_of(report).failed;
  std::lock_guard lock(mu_);
  if (failed) {
    retry_at_[account_id] = SteadyClock::now() + ctx_.retry_after;
  } else {
    retry_at_.erase(account_id);
  }
}

void RotationService::take_slot() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return free_slots_ > 0; });
  --free_slots_;
}

void RotationService::give_slot() {
  {
    std::lock_guard lock(mu_);
    ++free_slots_;
  }
  changed_.notify_all();
}

Result<std::optional<storage::AccountRow>> RotationService::load_row(std::int64_t account_id) {
  std::optional<storage::AccountRow> row;
  auto r = ctx_.store.read([&](Store::Tx& tx) -> Result<void> {
    auto found = account_row(tx, account_id);
    if (!found) return tl::make_unexpected(found.error());
    row = std::move(*found);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return row;
}

// Background work on one account: recover it when in doubt, then rotate it when it is owed or
// due (the row is read again under the account's turn: a job may have done it meanwhile).
void RotationService::work_on(const Queued& item) {
  take_slot();
  {
    AccountTurn turn(*this, item.account_id);
    auto row = load_row(item.account_id);
    if (!row || !row->has_value() || !rotatable(**row)) {
      if (!row) module_logger("rotation")->error("rotation: {}", row.error().message);
    } else if ((*row)->status == "pending") {
      note_attempt(item.account_id, run_engine(**row, item.actor, "recovery", true));
    } else if (auto reason = rotation_reason_now(**row, ctx_.settings, true, ctx_.clock.now());
               !reason.empty()) {
      note_attempt(item.account_id, run_engine(**row, item.actor, reason, false));
    }
  }
  give_slot();
}

AccountOutcome RotationService::rotate_account(std::int64_t account_id, const std::string& actor,
                                               const std::string& reason) {
  take_slot();
  AccountOutcome out;
  {
    AccountTurn turn(*this, account_id);
    auto row = load_row(account_id);
    if (!row) {
      out = {"error", row.error().message, true};
    } else if (!row->has_value()) {
      out = {"error", "the account no longer exists", true};
    } else if (!rotatable(**row)) {
      out = {"manual",
             (*row)->host_retired
                 ? target_text(**row) + ": the host is retired"
                 : target_text(**row) + " has no rotation connector (" + (*row)->protocol + ", " +
                       (*row)->kind + "): change it by hand",
             false};
    } else if (!(*row)->checkout_request.empty()) {
      out = {"skipped",
             "checked out by " + (*row)->checkout_holder + " until " + (*row)->checkout_until +
                 "; rotated when the check-out ends",
             false};
    } else {
      auto report = run_engine(**row, actor, reason, false);
      // An account in doubt is only settled by the first call; the rotation asked for follows.
      if (report.outcome == rotation::Outcome::kRecovered) {
        report = run_engine(**row, actor, reason, false);
      }
      note_attempt(account_id, report);
      out = outcome_of(report);
    }
  }
  give_slot();
  return out;
}

rotation::Report RotationService::run_engine(const storage::AccountRow& row,
                                             const std::string& actor, const std::string& reason,
                                             bool recover_only) {
  rotation::Connector* connector = ctx_.connector_for(row.protocol);
  const rotation::Target target{row.host, row.account, row.kind};
  if (row.status == "pending") {
    std::chrono::steady_clock::time_point not_before;
    {
      std::lock_guard lock(mu_);
      not_before = recover_not_before_;
    }
    std::this_thread::sleep_until(not_before);
  }
  const rotation::RotationRule& rule = rotation::rule_for(ctx_.settings, row.host, row.host_group);
  StoreVault vault(ctx_.store, ctx_.clock, row.id, ctx_.settings.keep_previous);
  const rotation::EventSink events = [&](const rotation::Event& e) {
    audit_event(e, actor, reason);
  };
  if (recover_only) return rotation::recover(target, vault, *connector, events);
  const rotation::SecretSource next = [&](const rotation::Target&) {
    return rotation::generate_password(rule.password, ctx_.random);
  };
  rotation::EngineOptions options;
  options.check_old_refused = rule.check_old_refused;
  return rotation::rotate(target, vault, *connector, next, events, options);
}

void RotationService::audit_event(const rotation::Event& event, const std::string& actor,
                                  const std::string& reason) {
  const std::string target = event.target.account + "@" + event.target.host;
  const char* action = rotation::to_string(event.kind);
  auto seq = ctx_.audit.append({actor.empty() ? "system" : actor,
                                action,
                                target,
                                {{"message", event.detail}, {"reason", reason}}});
  if (!seq) {
    module_logger("rotation")
        ->error("audit of {} {} failed: {}", action, target, seq.error().message);
  }
  const bool alarming =
      event.kind == rotation::EventKind::kFailed || event.kind == rotation::EventKind::kUnknown;
  if (alarming && ctx_.notifier != nullptr) {
    ctx_.notifier->notify(
        {action,
         std::string(event.kind == rotation::EventKind::kUnknown
                         ? "The vault no longer knows a password the host accepts: "
                         : "Password rotation failed: ") +
             target + ": " + event.detail,
         {{"host", event.target.host},
          {"account", event.target.account},
          {"message", event.detail}}});
  }
}

Result<void> RotationService::rotate_soon(std::int64_t account_id, const std::string& reason,
                                          const std::string& actor) {
  auto r = ctx_.store.transact(
      [&](Store::Tx& tx) { return storage::set_rotation_due(tx, account_id, reason); });
  if (!r) return r;
  {
    // An owed rotation is new work: an earlier failure's pause does not delay it.
    std::lock_guard lock(mu_);
    retry_at_.erase(account_id);
  }
  enqueue(account_id, actor);
  return ok();
}

Result<void> RotationService::await_settled(std::int64_t account_id,
                                            std::chrono::milliseconds limit) {
  const auto deadline = SteadyClock::now() + limit;
  bool recovered_here = false;
  for (;;) {
    auto row = load_row(account_id);
    if (!row) return tl::make_unexpected(row.error());
    if (!row->has_value()) return fail(ErrorCode::kNotFound, "no such account");
    const storage::AccountRow& a = **row;
    if (a.status == "unknown") {
      return fail(ErrorCode::kUnavailable, target_text(a) + " is marked unknown: " + a.last_error);
    }
    std::unique_lock lock(mu_);
    const bool busy = busy_.contains(account_id);
    if (!busy && (a.status != "pending" || !rotatable(a))) return ok();
    if (!busy && !recovered_here) {
      // Nobody is settling it: do it on this thread (outside the concurrency slots: a session
      // must not wait behind a `rotate --all`).
      lock.unlock();
      AccountTurn turn(*this, account_id);
      auto again = load_row(account_id);
      if (again && again->has_value() && (*again)->status == "pending") {
        note_attempt(account_id, run_engine(**again, "system", "recovery before use", true));
      }
      recovered_here = true;
      continue;
    }
    if (!busy ||
        !changed_.wait_until(lock, deadline, [&] { return !busy_.contains(account_id); })) {
      return fail(ErrorCode::kUnavailable,
                  target_text(a) +
                      (a.status == "pending" ? " is being recovered after an interrupted rotation"
                                             : " is being rotated") +
                      "; try again");
    }
  }
}

}  // namespace sekisho::broker
