#include "broker/rotation/store_vault.hpp"

#include "storage/credentials.hpp"

namespace sekisho::broker {

using storage::Store;

Result<rotation::Versions> StoreVault::load(const rotation::Target&) {
  rotation::Versions versions;
  auto r = store_.read([&](Store::Tx& tx) -> Result<void> {
    auto loaded = storage::load_versions(tx, account_id_);
    if (!loaded) return tl::make_unexpected(loaded.error());
    versions.current = std::move(loaded->current);
    versions.pending = std::move(loaded->pending);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return versions;
}

Result<void> StoreVault::store_pending(const rotation::Target&, const Secret& next) {
  return store_.transact([&](Store::Tx& tx) {
    return storage::store_pending(tx, account_id_, next, format_time(clock_.now()));
  });
}

Result<void> StoreVault::promote_pending(const rotation::Target&) {
  return store_.transact([&](Store::Tx& tx) {
    return storage::promote_pending(tx, account_id_, keep_previous_, format_time(clock_.now()));
  });
}

Result<void> StoreVault::discard_pending(const rotation::Target&) {
  return store_.transact([&](Store::Tx& tx) { return storage::discard_pending(tx, account_id_); });
}

Result<void> StoreVault::record_failure(const rotation::Target&, const std::string& why) {
  return store_.transact(
      [&](Store::Tx& tx) { return storage::set_last_error(tx, account_id_, why); });
}

Result<void> StoreVault::mark_unknown(const rotation::Target&, const std::string& why) {
  return store_.transact(
      [&](Store::Tx& tx) { return storage::mark_unknown(tx, account_id_, why); });
}

}  // namespace sekisho::broker
