// DirectoryRecheck: the core's periodic look at everyone who still holds something in the
// gateway (an API token, a live session, an open request), so that a leaver is cut off and a
// demoted approver loses the role without waiting for them to log in again.
#pragma once

#include <chrono>
#include <optional>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "broker/auth/user_cutoff.hpp"
#include "ldap/directory.hpp"
#include "storage/user_access.hpp"

namespace sekisho::broker {

struct RecheckReport {
  int checked = 0;      // users looked at
  int unreachable = 0;  // LDAP users the directory could not answer for (kept as they are)
  int cut_off = 0;      // users whose tokens, sessions or requests were ended
  int reduced = 0;      // users whose tokens lost a role
};

class DirectoryRecheck {
 public:
  // Everything referenced outlives the object. `interval`: [directory] recheck.
  DirectoryRecheck(CutOffTargets targets, ldap::Directory& directory, const Clock& clock,
                   std::chrono::seconds interval)
      : targets_(std::move(targets)), directory_(directory), clock_(clock), interval_(interval) {}

  // Runs a pass when `interval` has passed since the last one began (the first call runs one);
  // nullopt when none was due. Called by one thread (the daemon's ticker), never concurrently.
  [[nodiscard]] Result<std::optional<RecheckReport>> run_if_due();

  // One pass. For each holder: a user disabled in the gateway, an LDAP user the directory marks
  // disabled or departed, or no longer lists, is cut off (cut_off_user, audited user.cut_off with
  // the reason); an active user's tokens keep only the roles the directory (or, for local users,
  // the store) still gives them (audited user.roles_reduced), and an LDAP user's stored entry and
  // groups are refreshed (approval rules match them). A directory that cannot answer changes
  // nothing: live sessions go on, new logins are refused by the login path itself.
  [[nodiscard]] Result<RecheckReport> run();

 private:
  Result<void> check(const storage::AccessHolder& user, RecheckReport& report);
  Result<void> cut_off(const storage::AccessHolder& user, const std::string& why,
                       RecheckReport& report);
  Result<void> keep_roles(const storage::AccessHolder& user, const ldap::Identity* identity,
                          RecheckReport& report);

  CutOffTargets targets_;
  ldap::Directory& directory_;
  const Clock& clock_;
  std::chrono::seconds interval_;
  std::optional<TimePoint> last_run_;
};

}  // namespace sekisho::broker
