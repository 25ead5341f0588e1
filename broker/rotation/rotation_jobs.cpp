#include "broker/rotation/rotation_jobs.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/crypto.hpp"
#include "base/logging.hpp"
#include "storage/checkouts.hpp"
#include "storage/credentials.hpp"
#include "storage/hosts.hpp"
#include "storage/jobs.hpp"
#include "storage/users.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;
using storage::Store;

// A job's result lists at most this many accounts (the rest are counted, not listed), and each
// message at most this many bytes: the row stays small whatever the fleet.
constexpr std::size_t kMaxListedAccounts = 10000;
constexpr std::size_t kMaxMessage = 300;

std::string new_job_id() {
  const Secret bytes = random_secret(6);
  return "j-" + hex_encode(bytes.bytes());
}

Result<std::vector<storage::AccountRow>> host_accounts(Store::Tx& tx, const RotationSelection& s) {
  auto host = storage::find_host(tx, s.host);
  if (!host) return tl::make_unexpected(host.error());
  if (!host->has_value()) return fail(ErrorCode::kNotFound, "no host " + s.host);
  storage::AccountFilter filter;
  filter.host = s.host;
  auto rows = storage::list_account_rows(tx, filter);
  if (!rows) return tl::make_unexpected(rows.error());
  if (s.account.empty()) {
    if (rows->empty()) return fail(ErrorCode::kNotFound, "no accounts on " + s.host);
    return rows;
  }
  std::erase_if(*rows, [&](const storage::AccountRow& r) { return r.account != s.account; });
  if (rows->empty()) return fail(ErrorCode::kNotFound, "no account " + s.account + "@" + s.host);
  return rows;
}

Result<std::vector<storage::AccountRow>> seen_accounts(Store::Tx& tx, const std::string& user) {
  auto found = storage::find_user(tx, user);
  if (!found) return tl::make_unexpected(found.error());
  if (!found->has_value()) return fail(ErrorCode::kNotFound, "no user " + user);
  auto ids = storage::accounts_seen_by(tx, (*found)->id);
  if (!ids) return tl::make_unexpected(ids.error());
  auto rows = storage::list_account_rows(tx, {});
  if (!rows) return tl::make_unexpected(rows.error());
  std::erase_if(*rows, [&](const storage::AccountRow& r) {
    return std::find(ids->begin(), ids->end(), r.id) == ids->end();
  });
  return rows;
}

Result<std::vector<storage::AccountRow>> select_accounts(Store::Tx& tx,
                                                         const RotationSelection& s) {
  if (!s.seen_by.empty()) return seen_accounts(tx, s.seen_by);
  if (!s.all) return host_accounts(tx, s);
  storage::AccountFilter filter;
  filter.group = s.group;
  auto rows = storage::list_account_rows(tx, filter);
  if (!rows) return tl::make_unexpected(rows.error());
  if (rows->empty()) {
    return fail(ErrorCode::kNotFound,
                s.group.empty() ? "no accounts to rotate" : "no accounts in group " + s.group);
  }
  return rows;
}

std::string bounded(std::string text) {
  if (text.size() > kMaxMessage) text.resize(kMaxMessage);
  return text;
}

}  // namespace

std::string describe(const RotationSelection& s) {
  if (!s.seen_by.empty()) return "rotate --seen-by " + s.seen_by;
  if (s.all) return s.group.empty() ? "rotate --all" : "rotate --all --group " + s.group;
  return "rotate " + s.host + (s.account.empty() ? "" : " --account " + s.account);
}

struct RotationJobs::Job {
  std::string id;
  std::string actor;
  std::string reason;
  std::vector<storage::AccountRow> accounts;
  std::vector<std::optional<AccountOutcome>> outcomes;  // preset for accounts left alone
  std::mutex mu;                                        // outcomes, done, failed
  int done = 0;
  int failed = 0;
  std::atomic<bool> finished{false};
  std::thread thread;
};

RotationJobs::RotationJobs(RotationService& service, storage::Store& store,
                           storage::AuditLog& audit, const Clock& clock)
    : service_(service), store_(store), audit_(audit), clock_(clock) {}

RotationJobs::~RotationJobs() { stop(); }

Result<std::string> RotationJobs::start(std::int64_t owner_id, const std::string& actor,
                                        const RotationSelection& selection) {
  auto job = std::make_unique<Job>();
  job->id = new_job_id();
  job->actor = actor;
  job->reason =
      selection.seen_by.empty() ? "requested by " + actor : "seen-by " + selection.seen_by;
  auto r = store_.transact([&](Store::Tx& tx) -> Result<void> {
    auto rows = select_accounts(tx, selection);
    if (!rows) return tl::make_unexpected(rows.error());
    job->accounts = std::move(*rows);
    job->outcomes.resize(job->accounts.size());
    int rotatable = 0;
    for (std::size_t i = 0; i < job->accounts.size(); ++i) {
      const auto& row = job->accounts[i];
      if (!service_.rotatable(row)) {
        job->outcomes[i] = AccountOutcome{
            "manual",
            row.host_retired ? "the host is retired"
                             : "no rotation connector for " + row.protocol + " " + row.kind + "s",
            false};
        continue;
      }
      ++rotatable;
      // Owed durably: a crash before the job reaches the account still rotates it (the sweep).
      if (auto due = storage::set_rotation_due(tx, row.id, job->reason); !due) return due;
    }
    if (rotatable == 0 && !selection.host.empty()) {
      return fail(ErrorCode::kInvalidArgument,
                  selection.host +
                      ": no account there can be rotated (manual: no rotation "
                      "connector for " +
                      job->accounts.front().protocol + " hosts); change it by hand");
    }
    storage::JobRow row;
    row.id = job->id;
    row.kind = "rotate";
    row.owner_id = owner_id;
    row.owner = actor;
    row.description = describe(selection);
    row.state = "running";
    row.total = static_cast<int>(job->accounts.size());
    row.created_at = format_time(clock_.now());
    if (auto in = storage::insert_job(tx, row); !in) return in;
    auto seq = audit_.append(
        tx,
        {actor, "rotation.job", job->id, {{"description", row.description}, {"total", row.total}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  std::lock_guard lock(mu_);
  if (stopping_) return fail(ErrorCode::kUnavailable, "the gateway is stopping");
  // Finished jobs live on in the store only.
  std::erase_if(jobs_, [](std::unique_ptr<Job>& j) {
    if (!j->finished) return false;
    j->thread.join();
    return true;
  });
  Job& started = *job;
  jobs_.push_back(std::move(job));
  started.thread = std::thread([this, &started] { run(started); });
  return started.id;
}

void RotationJobs::run(Job& job) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (;;) {
      const std::size_t i = next++;
      if (i >= job.accounts.size() || stopping_) return;
      AccountOutcome out = job.outcomes[i].has_value()
                               ? *job.outcomes[i]
                               : service_.rotate_account(job.accounts[i].id, job.actor, job.reason);
      {
        std::lock_guard lock(job.mu);
        job.outcomes[i] = std::move(out);
        ++job.done;
        if (job.outcomes[i]->failed) ++job.failed;
      }
      record_progress(job);
    }
  };
  const std::size_t threads = std::min<std::size_t>(
      job.accounts.size(), static_cast<std::size_t>(std::max(1, service_.settings().concurrency)));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();

  json listed = json::array();
  std::lock_guard lock(job.mu);
  for (std::size_t i = 0; i < job.accounts.size() && i < kMaxListedAccounts; ++i) {
    const auto& o = job.outcomes[i];
    listed.push_back({{"host", job.accounts[i].host},
                      {"account", job.accounts[i].account},
                      {"outcome", o ? o->outcome : "not reached"},
                      {"message", o ? bounded(o->message) : ""}});
  }
  const bool finished = job.done == static_cast<int>(job.accounts.size());
  const std::string state = !finished ? "interrupted" : job.failed > 0 ? "failed" : "done";
  auto r = store_.transact([&](Store::Tx& tx) {
    return storage::finish_job(tx, job.id, state, json{{"accounts", listed}}.dump(),
                               format_time(clock_.now()));
  });
  if (!r) module_logger("rotation")->error("job {}: {}", job.id, r.error().message);
  job.finished = true;
}

// Under the job's lock, so that two threads never store their counts out of order.
void RotationJobs::record_progress(Job& job) {
  std::lock_guard lock(job.mu);
  auto r = store_.transact([&](Store::Tx& tx) {
    return storage::update_job_progress(tx, job.id, job.done, job.failed);
  });
  if (!r) module_logger("rotation")->error("job {}: {}", job.id, r.error().message);
}

void RotationJobs::stop() {
  stopping_ = true;
  std::vector<std::unique_ptr<Job>> jobs;
  {
    std::lock_guard lock(mu_);
    jobs.swap(jobs_);
  }
  for (auto& job : jobs) {
    if (job->thread.joinable()) job->thread.join();
  }
}

}  // namespace sekisho::broker
