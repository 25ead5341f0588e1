// Access requests and their reviews as rows of the store. What the rows mean (the state machine,
// who may review) is decided in approval/; this module only reads and writes them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

struct RequestRow {
  std::string id;
  std::int64_t requester_id = 0;
  std::string requester;  // user name (read only: joined from users)
  std::int64_t account_id = 0;
  std::string account;     // (read only)
  std::string host;        // (read only)
  std::string host_group;  // (read only)
  std::string reason;
  std::optional<std::string> ticket;
  std::string mode;
  std::string state;
  bool break_glass = false;
  std::string start_at, end_at, created_at, updated_at;
  std::string policy;
  int approvals_needed = 1;
  bool overdue_notified = false;
};

struct ReviewRow {
  std::string request_id;
  std::int64_t reviewer_id = 0;
  std::string reviewer;  // user name (read only)
  std::string decision;  // "approve" or "deny"
  std::string comment;
  std::string created_at;
};

[[nodiscard]] Result<void> insert_request(Store::Tx& tx, const RequestRow& row);
[[nodiscard]] Result<std::optional<RequestRow>> find_request(Store::Tx& tx, const std::string& id);

struct RequestFilter {
  std::optional<std::int64_t> requester_id;
  // Only requests whose stored state is one of these (all when empty).
  std::vector<std::string> states;
  std::optional<std::int64_t> account_id;
  std::size_t limit = 500;
};
// Newest first.
[[nodiscard]] Result<std::vector<RequestRow>> list_requests(Store::Tx& tx,
                                                            const RequestFilter& filter);
[[nodiscard]] Result<void> set_request_state(Store::Tx& tx, const std::string& id,
                                             const std::string& state,
                                             const std::string& updated_at);
[[nodiscard]] Result<void> set_overdue_notified(Store::Tx& tx, const std::string& id);

// Refuses a second review by the same user (kAlreadyExists).
[[nodiscard]] Result<void> insert_review(Store::Tx& tx, const ReviewRow& row);
// Oldest first.
[[nodiscard]] Result<std::vector<ReviewRow>> list_reviews(Store::Tx& tx,
                                                          const std::string& request_id);

// The account `account` on host `host`: (account id, host group), or nullopt.
struct AccountRef {
  std::int64_t account_id = 0;
  std::string host_group;
  bool host_retired = false;  // the host was retired: no new requests or sessions
};
[[nodiscard]] Result<std::optional<AccountRef>> find_account_ref(Store::Tx& tx,
                                                                 const std::string& host,
                                                                 const std::string& account);

// What the directory said about a user at their last login: the entry (an LDAP DN) and the
// groups. Approval rules use them ("group:…" selectors; one person behind two accounts).
struct DirectoryProfile {
  std::string entry;
  std::vector<std::string> groups;
};
[[nodiscard]] Result<void> set_directory_profile(Store::Tx& tx, std::int64_t user_id,
                                                 const DirectoryProfile& profile);
// The stored profile; a local user's entry is "local:NAME" and has no groups.
[[nodiscard]] Result<DirectoryProfile> directory_profile(Store::Tx& tx, std::int64_t user_id);
// Names of enabled users holding `role` (local roles), for notifications.
[[nodiscard]] Result<std::vector<std::string>> users_with_role(Store::Tx& tx,
                                                               const std::string& role);

}  // namespace sekisho::storage
