// Server-side jobs (DESIGN.md command table, `sekisho jobs`): long operations such as
// `rotate --all` run in the daemon and record their progress here, so that the CLI polls them and
// its request timeout never ends one. A job still "running" when the daemon starts was cut short
// by a stop or a crash: it is marked "interrupted" (its owed rotations stay owed in the accounts).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

struct JobRow {
  std::string id;
  std::string kind;  // "rotate", later "scan", "reconcile", "audit verify"
  std::int64_t owner_id = 0;
  std::string owner;        // user name
  std::string description;  // what was asked ("rotate --all --group web"); no secret
  std::string state;        // "running", "done", "failed", "interrupted"
  int total = 0;
  int done = 0;    // items finished (succeeded or failed)
  int failed = 0;  // items that failed
  std::string created_at;
  std::string finished_at;  // "" while running
  std::string result;       // JSON text: per-item outcomes; bounded by the caller
};

// Inserts `job` as running (its state and finished_at are ignored). kAlreadyExists for a used id;
// kInvalidArgument without an id or a kind.
[[nodiscard]] Result<void> insert_job(Store::Tx& tx, const JobRow& job);
// This and finish_job change only a running job: kNotFound "no job ID", kInvalidArgument "job ID
// has already finished (STATE)". finish_job's state is "done", "failed" or "interrupted".
[[nodiscard]] Result<void> update_job_progress(Store::Tx& tx, const std::string& id, int done,
                                               int failed);
[[nodiscard]] Result<void> finish_job(Store::Tx& tx, const std::string& id,
                                      const std::string& state, const std::string& result,
                                      const std::string& now);
[[nodiscard]] Result<std::optional<JobRow>> find_job(Store::Tx& tx, const std::string& id);
// Newest first; `owner_id` set: only that user's jobs. At most `limit`.
[[nodiscard]] Result<std::vector<JobRow>> list_jobs(Store::Tx& tx,
                                                    std::optional<std::int64_t> owner_id,
                                                    int limit);
// Marks every running job interrupted (at start-up); returns how many.
[[nodiscard]] Result<int> interrupt_running_jobs(Store::Tx& tx, const std::string& now);

}  // namespace sekisho::storage
