// Notifications to people (approvers, on-call) about access requests, delivered to chat webhooks
// (Slack, Teams, Mattermost…) configured as [[notify.webhook]] (DESIGN.md "Configuration").
//
// Delivery is best effort but never silent: whatever is not delivered is handed to a failure
// callback, which the daemon writes to the audit log. A notification is never a precondition of
// an access decision, so nothing here may block the caller.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <toml.hpp>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"

namespace sekisho::broker {

// One [[notify.webhook]] entry.
struct WebhookTarget {
  std::string url;                     // http:// or https://; its path may carry a token
  std::optional<std::string> ca_file;  // PEM trust anchors for https; default: the system store
  std::chrono::milliseconds timeout{5000};  // connect, and each read/write, of one attempt
  int max_attempts = 5;                     // including the first
};

// Parses the `[notify]` table, whose only key is the array of tables `webhook` (keys: url
// (required), ca_file, timeout ("5s"), max_attempts). Every error is one line
// "FILE: notify.webhook[i].KEY: reason" (i counts from 0) and never repeats the URL, which may
// carry a token. Unknown keys are refused: a typo must not silently stop notifications.
[[nodiscard]] Result<std::vector<WebhookTarget>> parse_webhooks(const toml::value& notify_section,
                                                                const std::string& file_name);

// "scheme://host:port" of a webhook URL: the part that may be logged or audited. The path and
// query are left out because services put the webhook's secret there. "(invalid URL)" when the
// URL does not parse.
std::string webhook_display(const std::string& url);

struct Notification {
  // "request.created", "request.approved", "request.denied", "request.break_glass",
  // "request.review_overdue", …
  std::string event;
  std::string text;       // one human line; chat services show the "text" member
  nlohmann::json fields;  // structured details: request id, requester, target, …
};

// Where notifications go. Implementations never block the caller.
class Notifier {
 public:
  virtual ~Notifier() = default;
  // Queues `n` for delivery and returns at once. Any thread may call it.
  virtual void notify(Notification n) = 0;
};

// Called once for every notification that a target will never receive: `target` is
// webhook_display() of its URL, `reason` one line ("dropped: …", "gave up after 5 attempts: …",
// "refused: HTTP 400", …). It runs on a delivery thread, or on the caller of notify() for a
// notification dropped from a full queue, so it must be thread-safe; it should not call notify().
using NotifyFailure = std::function<void(const std::string& target, const Notification& n,
                                         const std::string& reason)>;

struct WebhookOptions {
  std::size_t max_queue = 1000;  // per target; when full, the oldest waiting one is dropped
  // Wait before retry k (k = 1, 2, …) is backoff_base * 2^(k-1), at most backoff_cap, then
  // jittered down by up to half so that gateways restarted together do not retry together.
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{60000};
  // How long stop() keeps delivering (and retrying) what is queued.
  std::chrono::milliseconds drain_timeout{10000};
};

// POSTs each notification to every target as JSON
//   {"text": …, "event": …, "fields": {…}, "sent_at": "2026-11-26T16:00:00.123Z"}
// ("sent_at" is when notify() was called, identical across retries). Each target has its own
// delivery thread and bounded queue, so a slow or dead service delays only itself. Retries
// connection errors, 408, 429 and 5xx with exponential backoff; other answers are final.
// Redirects are not followed; https certificates and host names are verified.
class WebhookNotifier final : public Notifier {
 public:
  // Starts one delivery thread per target. `clock` stamps "sent_at" and must outlive this.
  WebhookNotifier(std::vector<WebhookTarget> targets, WebhookOptions options,
                  NotifyFailure on_failure, const Clock& clock);
  // Calls stop().
  ~WebhookNotifier() override;
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  void notify(Notification n) override;

  // Delivers what is queued for at most drain_timeout (plus one attempt already in flight, bounded
  // by its target's timeout), reports what is left to on_failure, and joins the delivery threads.
  // Later notify() calls are reported as failures. Idempotent; call it from one thread.
  void stop();

 private:
  struct Worker;
  std::vector<std::unique_ptr<Worker>> workers_;
  const Clock& clock_;
  WebhookOptions options_;
};

}  // namespace sekisho::broker
