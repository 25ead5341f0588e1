#include "broker/daemon/offline.hpp"

#include "base/files.hpp"
#include "storage/audit_checkpoint.hpp"
#include "storage/data_dir.hpp"

namespace sekisho::broker {

Result<storage::AuditVerifyReport> verify_audit(
    const std::filesystem::path& data_dir, const std::optional<std::filesystem::path>& public_key) {
  const storage::DataDir dir(data_dir);
  auto pem = read_file(public_key.value_or(dir.signing_public_key()), 16 * 1024);
  if (!pem) return tl::make_unexpected(pem.error());
  auto checkpoints = storage::read_checkpoints(dir.audit_checkpoints(), *pem);
  if (!checkpoints) return tl::make_unexpected(checkpoints.error());
  auto store = storage::open_data_dir_store(dir, {.migrate = false});
  if (!store) return tl::make_unexpected(store.error());
  const SystemClock clock;
  auto log = storage::AuditLog::open(**store, clock);
  if (!log) return tl::make_unexpected(log.error());
  auto report = (*log)->verify(*checkpoints);
  if (report && report->ok && report->events > 0 && checkpoints->empty()) {
    report->ok = false;
    report->first_bad_seq = 1;
    report->problem = "no signed checkpoint in " + dir.audit_checkpoints().string() +
                      " (deleted?): a truncated tail could not be detected";
  }
  return report;
}

Result<void> rekey(const std::filesystem::path& data_dir) {
  const storage::DataDir dir(data_dir);
  auto lock = storage::DataDirLock::acquire(dir);
  if (!lock) return tl::make_unexpected(lock.error());
  if (auto r = storage::rekey_data_dir(dir); !r) return r;
  auto store = storage::open_data_dir_store(dir, {.migrate = false});
  if (!store) return tl::make_unexpected(store.error());
  const SystemClock clock;
  auto log = storage::AuditLog::open(**store, clock);
  if (!log) return tl::make_unexpected(log.error());
  auto seq = (*log)->append({"sekishod", "store.rekey", dir.root().string(), {}});
  if (!seq) return tl::make_unexpected(seq.error());
  return ok();
}

}  // namespace sekisho::broker
