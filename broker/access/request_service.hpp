// RequestService: access requests end to end — admission by policy, reviews, cancel, the grant
// lookup the gateways use, and the time-driven transitions (expiry, closing, overdue reviews).
// The rules live in approval/; this class applies them to the store, audits every transition and
// notifies approvers.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "approval/policy.hpp"
#include "approval/request.hpp"
#include "base/clock.hpp"
#include "base/result.hpp"
#include "broker/access/notifier.hpp"
#include "broker/auth/auth_service.hpp"
#include "ssh/login_name.hpp"
#include "storage/audit_log.hpp"
#include "storage/requests.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// A request as a reader sees it: the stored facts, its reviews, and what they mean now.
struct RequestView {
  storage::RequestRow row;
  std::vector<storage::ReviewRow> reviews;
  approval::Status status;
};

struct CreateRequest {
  std::string target;  // ACCOUNT@HOST
  std::string reason;
  std::optional<std::string> ticket;
  std::optional<std::chrono::seconds> duration;
  approval::Mode mode = approval::Mode::kSession;
  std::optional<TimePoint> start;
  bool break_glass = false;
};

// What a grant lookup answers: the request that grants access and the end of its window.
struct Grant {
  std::string request_id;
  TimePoint end{};
  std::string policy;  // the rule the request was admitted under
};

// A request as it stands now and whether it grants its requester access in the mode asked.
struct GrantCheck {
  RequestView view;
  bool grants = false;
  bool host_retired = false;  // a retired host grants nothing (grants is false)
};

class RequestService {
 public:
  // All references outlive the service; `notifier` may be null (no notifications configured).
  RequestService(storage::Store& store, storage::AuditLog& audit, approval::Policy policy,
                 Notifier* notifier, const Clock& clock);

  [[nodiscard]] Result<RequestView> create(const Caller& caller, const CreateRequest& request);
  // Requesters see their own requests; approvers and auditors see all. `pending`: requests
  // waiting for a review (pending, and break-glass requests not yet reviewed).
  [[nodiscard]] Result<std::vector<RequestView>> list(const Caller& caller, bool pending,
                                                      bool mine);
  [[nodiscard]] Result<RequestView> show(const Caller& caller, const std::string& id);
  [[nodiscard]] Result<RequestView> review(const Caller& caller, const std::string& id,
                                           approval::Decision decision, const std::string& comment);
  [[nodiscard]] Result<RequestView> cancel(const Caller& caller, const std::string& id);

  // Does user `user_id` hold an approved request for ACCOUNT@HOST in `mode` now? The SSH and RDP
  // gateways and check-out ask this before anything else.
  [[nodiscard]] Result<std::optional<Grant>> grant(std::int64_t user_id, const std::string& account,
                                                   const std::string& host, approval::Mode mode);

  // Marks a granted request as in use (approved → active, audited as request.active) when a
  // gateway session starts under it; an active request closes when its window ends. A no-op for
  // a request already active; refused for one that grants nothing now.
  [[nodiscard]] Result<void> activate(const std::string& request_id, const std::string& actor);

  // Request `id` as it stands now and whether it grants its requester `mode` now
  // (approval::grants). No caller rule: the core's own check before lending a password, whose
  // caller checks who asks. kNotFound "no request ID". Any thread.
  [[nodiscard]] Result<GrantCheck> check_grant(const std::string& id, approval::Mode mode);

  // Ends a request in use before its window does (a check-in): approved or active → closed,
  // audited as request.closed by `actor` with `reason`. A no-op for a request already final
  // (the sweep closed it at the end of its window); kInvalidArgument for a pending one. Any thread.
  [[nodiscard]] Result<void> close(const std::string& request_id, const std::string& actor,
                                   const std::string& reason);

  // Ends every open request of user `user_id` at once (a leaver, a disabled user): pending and
  // approved ones become cancelled, active ones closed, each audited (request.cancelled /
  // request.closed, actor `actor`, with `reason`). Returns how many it ended. Thread-safe.
  [[nodiscard]] Result<int> end_requests_of(std::int64_t user_id, const std::string& actor,
                                            const std::string& reason);

  // Writes the transitions that time alone causes (expired, closed) with their audit events, and
  // reminds approvers of break-glass requests still unreviewed after the policy's review time.
  // The daemon calls it every second; readers never depend on it (they evaluate on read).
  [[nodiscard]] Result<void> sweep();

  const approval::Policy& policy() const { return policy_; }

 private:
  Result<approval::Person> person(storage::Store::Tx& tx, std::int64_t user_id,
                                  const std::string& name, std::vector<std::string> roles);
  Result<RequestView> load(storage::Store::Tx& tx, const storage::RequestRow& row, TimePoint now);
  Result<RequestView> find_request_view(storage::Store::Tx& tx, const std::string& id,
                                        TimePoint now);
  Result<approval::Request> to_request(storage::Store::Tx& tx, const storage::RequestRow& row);
  Result<std::vector<approval::Review>> to_reviews(storage::Store::Tx& tx,
                                                   const std::vector<storage::ReviewRow>& rows);
  // Persists a state the request reached (if it changed) and audits it; returns whether it did.
  Result<bool> settle(storage::Store::Tx& tx, RequestView& view, const std::string& actor,
                      TimePoint now);
  void notify(const std::string& event, const RequestView& view, const std::string& text);

  // create()'s steps (request_admission.cpp). admit_new: ACCOUNT@HOST resolved to a registered
  // account and admitted under the policy, as the row to store; store_new: that row with its
  // audit events; announce_created: the approvers' notification.
  Result<storage::RequestRow> admit_new(storage::Store::Tx& tx, const Caller& caller,
                                        const CreateRequest& in, TimePoint now);
  Result<void> store_new(storage::Store::Tx& tx, const Caller& caller, const CreateRequest& in,
                         const storage::RequestRow& row);
  void announce_created(const RequestView& view);
  // review()'s steps: the decision checked against the request's rule and stored with its
  // request.review event; the notification once it changed the request's state.
  Result<void> record_review(storage::Store::Tx& tx, const Caller& caller, const RequestView& view,
                             approval::Decision decision, const std::string& comment,
                             TimePoint now);
  void announce_decided(const Caller& caller, const RequestView& view, const std::string& comment);

  storage::Store& store_;
  storage::AuditLog& audit_;
  approval::Policy policy_;
  Notifier* notifier_;
  const Clock& clock_;
};

}  // namespace sekisho::broker
