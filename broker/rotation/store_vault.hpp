// The rotation engine's vault port over the store: each call is one transaction on one account's
// credential versions (storage/credentials.hpp), so that every step the engine takes is durable
// before the next one touches the host.
#pragma once

#include <cstdint>

#include "base/clock.hpp"
#include "rotation/engine.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// Works on the account `account_id` only: the engine's Target names it for messages, the id
// decides which rows change. `keep_previous` is [rotation] keep_previous. Thread-safe (the store
// serialises transactions); everything outlives it.
class StoreVault final : public rotation::VaultPort {
 public:
  StoreVault(storage::Store& store, const Clock& clock, std::int64_t account_id, int keep_previous)
      : store_(store), clock_(clock), account_id_(account_id), keep_previous_(keep_previous) {}

  Result<rotation::Versions> load(const rotation::Target& target) override;
  Result<void> store_pending(const rotation::Target& target, const Secret& next) override;
  Result<void> promote_pending(const rotation::Target& target) override;
  Result<void> discard_pending(const rotation::Target& target) override;
  Result<void> record_failure(const rotation::Target& target, const std::string& why) override;
  Result<void> mark_unknown(const rotation::Target& target, const std::string& why) override;

 private:
  storage::Store& store_;
  const Clock& clock_;
  const std::int64_t account_id_;
  const int keep_previous_;
};

}  // namespace sekisho::broker
