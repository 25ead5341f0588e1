// `sekisho rotate` as server-side jobs (storage/jobs.hpp): the accounts a request names are owed
// a rotation durably (with the job's row, in one transaction), then rotated on the job's own
// threads, at most [rotation] concurrency at once, with the progress (done/failed/total) and each
// account's outcome recorded as they finish. The CLI polls the job; its request timeout never ends
// one. A daemon that stops or dies leaves the job "interrupted" and the rotations still owed, which
// the rotation service's sweep then finishes.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.hpp"
#include "broker/rotation/rotation_service.hpp"
#include "storage/audit_log.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// Which accounts to rotate; exactly one of host, all and seen_by.
struct RotationSelection {
  std::string host;     // `rotate HOST`
  std::string account;  // with host: only this account
  bool all = false;     // `rotate --all`
  std::string group;    // with all: only hosts of this group
  std::string seen_by;  // `rotate --seen-by USER`: every account USER ever checked out
};

// The job's text in `sekisho jobs` ("rotate web01 --account root"). Pure.
std::string describe(const RotationSelection& selection);

class RotationJobs {
 public:
  RotationJobs(RotationService& service, storage::Store& store, storage::AuditLog& audit,
               const Clock& clock);
  ~RotationJobs();  // stop()s
  RotationJobs(const RotationJobs&) = delete;
  RotationJobs& operator=(const RotationJobs&) = delete;

  // Resolves `selection` (kNotFound for an unknown host, account or user; kInvalidArgument when
  // it names nothing rotatable: "win01: no account there can be rotated (manual: …)"), owes every
  // rotatable account a rotation for "requested by ACTOR" (or "seen-by USER"), stores the job
  // owned by `owner_id` and audits rotation.job, all in one transaction; then starts the job and
  // returns its id at once. Any thread.
  [[nodiscard]] Result<std::string> start(std::int64_t owner_id, const std::string& actor,
                                          const RotationSelection& selection);
  // Stops taking new accounts, finishes the ones being rotated, marks unfinished jobs
  // "interrupted" and joins their threads. Idempotent; any thread but a job's.
  void stop();

 private:
  struct Job;
  void run(Job& job);
  void record_progress(Job& job);

  RotationService& service_;
  storage::Store& store_;
  storage::AuditLog& audit_;
  const Clock& clock_;
  std::mutex mu_;  // jobs_
  std::vector<std::unique_ptr<Job>> jobs_;
  std::atomic<bool> stopping_{false};
};

}  // namespace sekisho::broker
