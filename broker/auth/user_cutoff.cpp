#include "broker/auth/user_cutoff.hpp"

#include "storage/user_access.hpp"

namespace sekisho::broker {

Result<CutOffCounts> cut_off_user(const CutOffTargets& targets, std::int64_t user_id,
                                  const std::string& name, const std::string& actor) {
  CutOffCounts counts;
  auto revoked = targets.store.transact([&](storage::Store::Tx& tx) -> Result<void> {
    auto n = storage::revoke_live_tokens(tx, user_id);
    if (!n) return tl::make_unexpected(n.error());
    counts.tokens = *n;
    return ok();
  });
  if (!revoked) return tl::make_unexpected(revoked.error());
  if (targets.end_sessions) counts.sessions = targets.end_sessions(name, kUserDisabled);
  if (targets.checkouts != nullptr) {
    auto ended = targets.checkouts->end_checkouts_of(user_id, actor, kUserDisabled);
    if (!ended) return tl::make_unexpected(ended.error());
    counts.checkouts = *ended;
  }
  if (targets.requests != nullptr) {
    auto ended = targets.requests->end_requests_of(user_id, actor, kUserDisabled);
    if (!ended) return tl::make_unexpected(ended.error());
    counts.requests = *ended;
  }
  return counts;
}

}  // namespace sekisho::broker
