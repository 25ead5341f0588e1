#include "broker/rotation/ssh_rotation_lookup.hpp"

#include "storage/hosts.hpp"
#include "storage/vault.hpp"

namespace sekisho::broker {

namespace {

// The vaulted login `account` of `host`, for a rule that names it; nullopt when the rule names
// none or names the target account itself (then the connector logs in as the target).
Result<std::optional<SshRotationLogin>> rule_login(storage::Store::Tx& tx,
                                                   const std::string& account,
                                                   const rotation::Target& target,
                                                   const char* what) {
  if (account.empty() || account == target.account) return std::optional<SshRotationLogin>();
  auto cred = storage::current_credential(tx, account, target.host);
  if (!cred) {
    return fail(ErrorCode::kUnavailable, "the " + std::string(what) + " account " + account + "@" +
                                             target.host + " has no vaulted credential");
  }
  return std::optional<SshRotationLogin>(
      SshRotationLogin{account, cred->kind, std::move(cred->secret)});
}

}  // namespace

SshRotationLookup make_ssh_rotation_lookup(storage::Store& store,
                                           const rotation::RotationSettings& settings) {
  return [&store, &settings](const rotation::Target& target) -> Result<SshRotationHost> {
    SshRotationHost out;
    auto r = store.read([&](storage::Store::Tx& tx) -> Result<void> {
      auto host = storage::find_host(tx, target.host);
      if (!host) return tl::make_unexpected(host.error());
      if (!host->has_value()) return fail(ErrorCode::kUnavailable, "no host " + target.host);
      if ((*host)->host_key.empty()) {
        return fail(ErrorCode::kUnavailable, "the host key of " + target.host + " is not pinned");
      }
      out.address = (*host)->address;
      out.port = static_cast<std::uint16_t>((*host)->port);
      out.pinned_host_key = (*host)->host_key;
      const rotation::RotationRule& rule =
          rotation::rule_for(settings, (*host)->name, (*host)->group);
      auto rotation = rule_login(tx, rule.rotation_account, target, "rotation");
      if (!rotation) return tl::make_unexpected(rotation.error());
      out.rotation = std::move(*rotation);
      auto reconcile = rule_login(tx, rule.reconcile_account, target, "reconcile");
      if (!reconcile) return tl::make_unexpected(reconcile.error());
      out.reconcile = std::move(*reconcile);
      return ok();
    });
    if (!r) return tl::make_unexpected(r.error());
    return out;
  };
}

}  // namespace sekisho::broker
