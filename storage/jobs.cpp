#include "storage/jobs.hpp"

namespace sekisho::storage {

namespace {

constexpr char kJobColumns[] =
    "SELECT j.id, j.kind, j.owner_id, u.name, j.description, j.state, j.total, j.done, j.failed, "
    "j.created_at, coalesce(j.finished_at, ''), j.result FROM jobs j "
    "JOIN users u ON u.id = j.owner_id ";

JobRow read_job(const Statement& s) {
  JobRow j;
  j.id = s.column_text(0);
  j.kind = s.column_text(1);
  j.owner_id = s.column_int(2);
  j.owner = s.column_text(3);
  j.description = s.column_text(4);
  j.state = s.column_text(5);
  j.total = static_cast<int>(s.column_int(6));
  j.done = static_cast<int>(s.column_int(7));
  j.failed = static_cast<int>(s.column_int(8));
  j.created_at = s.column_text(9);
  j.finished_at = s.column_text(10);
  j.result = s.column_text(11);
  return j;
}

// kNotFound "no job ID" when `id` names no job, else kInvalidArgument "job ID has already
// finished (STATE)": the callers below only change running jobs.
Result<void> refuse_not_running(Store::Tx& tx, const std::string& id) {
  auto job = find_job(tx, id);
  if (!job) return tl::make_unexpected(job.error());
  if (!job->has_value()) return fail(ErrorCode::kNotFound, "no job " + id);
  return fail(ErrorCode::kInvalidArgument,
              "job " + id + " has already finished (" + (*job)->state + ")");
}

}  // namespace

Result<void> insert_job(Store::Tx& tx, const JobRow& job) {
  if (job.id.empty() || job.kind.empty()) {
    return fail(ErrorCode::kInvalidArgument, "a job needs an id and a kind");
  }
  auto existing = find_job(tx, job.id);
  if (!existing) return tl::make_unexpected(existing.error());
  if (existing->has_value()) return fail(ErrorCode::kAlreadyExists, "job " + job.id + " exists");
  auto stmt = tx.prepare(
      "INSERT INTO jobs (id, kind, owner_id, description, state, total, done, failed, "
      "created_at, result) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, job.id)
      .bind(2, job.kind)
      .bind(3, job.owner_id)
      .bind(4, job.description)
      .bind(5, std::int64_t{job.total})
      .bind(6, std::int64_t{job.done})
      .bind(7, std::int64_t{job.failed})
      .bind(8, job.created_at)
      .bind(9, job.result);
  return stmt->run();
}

Result<void> update_job_progress(Store::Tx& tx, const std::string& id, int done, int failed) {
  auto stmt = tx.prepare("UPDATE jobs SET done = ?, failed = ? WHERE id = ? AND state = 'running'");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, std::int64_t{done}).bind(2, std::int64_t{failed}).bind(3, id);
  if (auto r = stmt->run(); !r) return r;
  return tx.changes() > 0 ? ok() : refuse_not_running(tx, id);
}

Result<void> finish_job(Store::Tx& tx, const std::string& id, const std::string& state,
                        const std::string& result, const std::string& now) {
  if (state != "done" && state != "failed" && state != "interrupted") {
    return fail(ErrorCode::kInvalidArgument, "a job cannot finish as '" + state + "'");
  }
  auto stmt = tx.prepare(
      "UPDATE jobs SET state = ?, result = ?, finished_at = ? WHERE id = ? AND state = 'running'");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, state).bind(2, result).bind(3, now).bind(4, id);
  if (auto r = stmt->run(); !r) return r;
  return tx.changes() > 0 ? ok() : refuse_not_running(tx, id);
}

Result<std::optional<JobRow>> find_job(Store::Tx& tx, const std::string& id) {
  auto stmt = tx.prepare(std::string(kJobColumns) + "WHERE j.id = ?");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, id);
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<JobRow>();
  return std::optional<JobRow>(read_job(*stmt));
}

Result<std::vector<JobRow>> list_jobs(Store::Tx& tx, std::optional<std::int64_t> owner_id,
                                      int limit) {
  // rowid breaks ties between jobs created in the same millisecond: the later insert is newer.
  auto stmt = tx.prepare(std::string(kJobColumns) +
                         "WHERE (?1 IS NULL OR j.owner_id = ?1) "
                         "ORDER BY j.created_at DESC, j.rowid DESC LIMIT ?2");
  if (!stmt) return tl::make_unexpected(stmt.error());
  if (owner_id) {
    stmt->bind(1, *owner_id);
  } else {
    stmt->bind_null(1);
  }
  stmt->bind(2, std::int64_t{limit < 0 ? 0 : limit});
  std::vector<JobRow> jobs;
  for (;;) {
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (!*row) return jobs;
    jobs.push_back(read_job(*stmt));
  }
}

Result<int> interrupt_running_jobs(Store::Tx& tx, const std::string& now) {
  auto stmt =
      tx.prepare("UPDATE jobs SET state = 'interrupted', finished_at = ? WHERE state = 'running'");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, now);
  if (auto r = stmt->run(); !r) return tl::make_unexpected(r.error());
  return tx.changes();
}

}  // namespace sekisho::storage
