#include "broker/daemon/init.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "base/crypto.hpp"
#include "base/files.hpp"
#include "base/password_hash.hpp"
#include "broker/daemon/gateway_keys.hpp"
#include "storage/audit_checkpoint.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"
#include "storage/users.hpp"

namespace sekisho::broker {

namespace {

namespace fs = std::filesystem;

// Restores the umask when init returns.
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
  ~UmaskGuard() { ::umask(old_); }
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;

 private:
  mode_t old_;
};

Result<void> check_target(const fs::path& dir) {
  std::error_code ec;
  const auto status = fs::symlink_status(dir, ec);
  if (!fs::exists(status)) return ok();
  if (!fs::is_directory(status) || !fs::is_empty(dir, ec)) {
    return fail(
        ErrorCode::kAlreadyExists,
        "data dir " + dir.string() + " already exists and is not empty; refusing to overwrite it");
  }
  return ok();
}

Result<void> create_operator(storage::Store& store, storage::AuditLog& log, const std::string& name,
                             const Secret& password, const Clock& clock) {
  auto hash = hash_password(password);
  if (!hash) return tl::make_unexpected(hash.error());
  return store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    storage::NewUser user{name, *hash, {"operator"}, true, format_time(clock.now())};
    auto id = storage::create_user(tx, user);
    if (!id) return tl::make_unexpected(id.error());
    auto seq = log.append(
        tx, {"sekishod",
             "user.create",
             name,
             {{"roles", {"operator"}}, {"source", "local"}, {"must_change_password", true}}});
    if (!seq) return tl::make_unexpected(seq.error());
    return ok();
  });
}

// Fills `tmp` with a complete data dir; `final_dir` is only named in the audit trail.
Result<InitResult> populate(const fs::path& tmp, const fs::path& final_dir,
                            const std::string& operator_name, const Clock& clock) {
  const storage::DataDir dd(tmp);
  const Secret master = random_secret(32);
  if (auto r = storage::write_master_key(dd.master_key(), master); !r)
    return tl::make_unexpected(r.error());
  auto store = storage::Store::create(dd.store(), master);
  if (!store) return tl::make_unexpected(store.error());
  if (auto r = storage::AuditLog::init_audit_key(**store, master); !r)
    return tl::make_unexpected(r.error());
  auto log = storage::AuditLog::open(**store, clock);
  if (!log) return tl::make_unexpected(log.error());

  auto signing = SigningKey::generate();
  if (!signing) return tl::make_unexpected(signing.error());
  if (auto r = signing->save(dd.signing_key(), dd.signing_public_key()); !r)
    return tl::make_unexpected(r.error());

  InitResult result;
  result.data_dir = final_dir;
  result.operator_name = operator_name;
  auto ssh_fp = create_ssh_host_key(dd.ssh_host_key());
  if (!ssh_fp) return tl::make_unexpected(ssh_fp.error());
  result.ssh_host_key_fingerprint = *ssh_fp;
  auto tls_fp = create_tls_identity(dd.tls_certificate(), dd.tls_key());
  if (!tls_fp) return tl::make_unexpected(tls_fp.error());
  result.tls_fingerprint = *tls_fp;

  auto seq = (*log)->append({"sekishod",
                             "gateway.init",
                             final_dir.string(),
                             {{"schema_version", (*store)->schema_version()},
                              {"ssh_host_key", result.ssh_host_key_fingerprint},
                              {"tls_certificate", result.tls_fingerprint},
                              {"signing_key", fingerprint8(as_bytes(signing->public_pem()))}}});
  if (!seq) return tl::make_unexpected(seq.error());

  result.one_time_password = generate_password(20);
  if (auto r = create_operator(**store, **log, operator_name, result.one_time_password, clock);
      !r) {
    return tl::make_unexpected(r.error());
  }
  auto cp = storage::write_checkpoint(**log, *signing, dd.audit_checkpoints(), clock);
  if (!cp) return tl::make_unexpected(cp.error());
  return result;
}

}  // namespace

Result<InitResult> init_data_dir(const fs::path& dir, const std::string& operator_name,
                                 const Clock& clock) {
  if (auto r = storage::check_user_name(operator_name); !r) {
    return fail(r.error().code, "--operator: " + r.error().message);
  }
  const fs::path target = fs::absolute(dir).lexically_normal();
  if (auto r = check_target(target); !r) return tl::make_unexpected(r.error());
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  const UmaskGuard umask_guard(077);
  std::string tmpl =
      (target.parent_path() / ("." + target.filename().string() + ".init-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return fail(ErrorCode::kIo,
                "cannot create a directory beside " + target.string() + ": " + errno_text(errno));
  }
  const fs::path tmp(tmpl);
  auto result = populate(tmp, target, operator_name, clock);
  if (result && ::rename(tmp.c_str(), target.c_str()) != 0) {
    result =
        fail(ErrorCode::kAlreadyExists,
             "data dir " + target.string() + " appeared while init ran; refusing to overwrite it");
  }
  if (!result) {
    fs::remove_all(tmp, ec);
    return result;
  }
  if (auto r = fsync_directory(target.parent_path()); !r) return tl::make_unexpected(r.error());
  return result;
}

}  // namespace sekisho::broker
