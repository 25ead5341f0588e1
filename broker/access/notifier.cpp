#include "broker/access/notifier.hpp"

#include <httplib.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "base/logging.hpp"

namespace sekisho::broker {

namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

constexpr std::size_t kMaxUrlBytes = 4096;
constexpr std::size_t kMaxWebhooks = 64;
constexpr int kMaxAttempts = 20;
constexpr std::chrono::seconds kMaxTimeout{300};
// Chat services answer a few bytes; anything longer is read no further.
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;

std::shared_ptr<spdlog::logger> notify_log() { return module_logger("notify"); }

struct WebhookUrl {
  bool https = false;
  std::string host;  // without the brackets of an IPv6 literal
  int port = 0;
  std::string path;  // path and query, as sent in the request line

  bool ipv6() const { return host.find(':') != std::string::npos; }
  std::string bracketed_host() const { return ipv6() ? "[" + host + "]" : host; }
  std::string display() const {
    return std::string(https ? "https" : "http") + "://" + bracketed_host() + ":" +
           std::to_string(port);
  }
};

bool host_char(char c, bool ipv6) {
  const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || c == '.' || (ipv6 ? c == ':' : (c == '-' || c == '_'));
}

// Splits "HOST[:PORT]" or "[V6][:PORT]". Messages never repeat the URL: it may carry a token.
Result<void> parse_authority(const std::string& authority, WebhookUrl& out) {
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) return fail(ErrorCode::kInvalidArgument, "unclosed [ in host");
    out.host = authority.substr(1, close - 1);
    const std::string rest = authority.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return fail(ErrorCode::kInvalidArgument, "bad host");
    if (!rest.empty()) port = rest.substr(1);
    if (out.host.find(':') == std::string::npos)
      return fail(ErrorCode::kInvalidArgument, "bad IPv6 address");
  } else {
    const auto colon = authority.find(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty() || out.host.size() > 253) {
    return fail(ErrorCode::kInvalidArgument, "has no host");
  }
  const bool v6 = out.ipv6();
  if (!std::all_of(out.host.begin(), out.host.end(), [&](char c) { return host_char(c, v6); })) {
    return fail(ErrorCode::kInvalidArgument, "bad character in host");
  }
  if (port.empty()) return ok();  // the scheme's default, already set
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return fail(ErrorCode::kInvalidArgument, "bad port");
  }
  out.port = std::stoi(port);
  if (out.port < 1 || out.port > 65535) return fail(ErrorCode::kInvalidArgument, "bad port");
  return ok();
}

Result<WebhookUrl> parse_url(const std::string& url) {
  if (url.size() > kMaxUrlBytes) return fail(ErrorCode::kInvalidArgument, "too long");
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) {
      return fail(ErrorCode::kInvalidArgument, "must not contain spaces or control characters");
    }
  }
  WebhookUrl out;
  std::string lower = url.substr(0, 8);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::size_t start = 0;
  if (lower.rfind("https://", 0) == 0) {
    out.https = true;
    out.port = 443;
    start = 8;
  } else if (lower.rfind("http://", 0) == 0) {
    out.port = 80;
    start = 7;
  } else {
    return fail(ErrorCode::kInvalidArgument, "must start with http:// or https://");
  }
  const auto end = url.find_first_of("/?#", start);
  const std::string authority = url.substr(start, end - start);
  if (authority.find('@') != std::string::npos) {
    // httplib would send user:password@ nowhere; better said at start-up than lost.
    return fail(ErrorCode::kInvalidArgument, "user:password@ is not supported");
  }
  if (auto r = parse_authority(authority, out); !r) return tl::make_unexpected(r.error());
  if (end != std::string::npos) out.path = url.substr(end, url.find('#', end) - end);
  if (out.path.empty() || out.path[0] != '/') out.path.insert(0, "/");
  return out;
}

// What one POST came to.
struct Attempt {
  enum Outcome { kDelivered, kRetry, kFinal } outcome = kFinal;
  std::string reason;                        // one line, for logs and on_failure
  std::chrono::milliseconds retry_after{0};  // the service's Retry-After, when it gave one
};

Attempt classify_status(const httplib::Response& res) {
  const int status = res.status;
  if (status >= 200 && status < 300) return {Attempt::kDelivered, "", {}};
  const std::string reason = "HTTP " + std::to_string(status);
  if (status == 408 || status == 429 || status >= 500) {
    Attempt a{Attempt::kRetry, reason, {}};
    const std::string after = res.get_header_value("Retry-After");
    if (!after.empty() && after.size() <= 6 &&
        std::all_of(after.begin(), after.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      a.retry_after = std::chrono::seconds(std::stoi(after));
    }
    return a;
  }
  if (status >= 300 && status < 400) {
    return {Attempt::kFinal, reason + " (redirects are not followed)", {}};
  }
  return {Attempt::kFinal, reason, {}};
}

Attempt classify_error(httplib::Error err) {
  switch (err) {
    // Configuration problems: retrying would only repeat them.
    case httplib::Error::SSLServerVerification:
      return {Attempt::kFinal, "TLS certificate or host name verification failed", {}};
    case httplib::Error::SSLLoadingCerts:
      return {Attempt::kFinal, "cannot load the trusted certificates (ca_file)", {}};
    default:
      return {Attempt::kRetry, "connection failed: " + httplib::to_string(err), {}};
  }
}

// The JSON body, built once so that every target and every retry sends the same bytes.
std::string payload(const Notification& n, TimePoint now) {
  const nlohmann::json body = {{"text", n.text},
                               {"event", n.event},
                               {"fields", n.fields.is_null() ? nlohmann::json::object() : n.fields},
                               {"sent_at", format_time(now)}};
  // Replaces invalid UTF-8 (a user-supplied reason, say) instead of throwing on the caller.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Messages name the key ("notify.webhook[0].url: required"); parse_webhooks adds the file.
tl::unexpected<Error> key_error(const std::string& key, const std::string& reason) {
  return fail(ErrorCode::kInvalidArgument, key + ": " + reason);
}

// The optional keys of one [[notify.webhook]] entry whose url is already read.
Result<void> read_webhook_options(const toml::value& item, const std::string& where, bool https,
                                  WebhookTarget& target) {
  if (item.contains("ca_file")) {
    const auto& ca = item.as_table().at("ca_file");
    if (!ca.is_string() || ca.as_string().str.empty() || ca.as_string().str.size() > 4096) {
      return key_error(where + ".ca_file", "must be a file name");
    }
    if (!https) return key_error(where + ".ca_file", "only applies to https:// URLs");
    target.ca_file = ca.as_string().str;
  }
  if (item.contains("timeout")) {
    const auto& t = item.as_table().at("timeout");
    if (!t.is_string()) return key_error(where + ".timeout", "must be a duration such as \"5s\"");
    auto d = parse_duration(t.as_string().str);
    if (!d) return key_error(where + ".timeout", d.error().message);
    if (*d > kMaxTimeout) return key_error(where + ".timeout", "at most 300s");
    target.timeout = *d;
  }
  if (item.contains("max_attempts")) {
    const auto& m = item.as_table().at("max_attempts");
    if (!m.is_integer() || m.as_integer() < 1 || m.as_integer() > kMaxAttempts) {
      return key_error(where + ".max_attempts", "must be an integer from 1 to 20");
    }
    target.max_attempts = static_cast<int>(m.as_integer());
  }
  return ok();
}

Result<WebhookTarget> read_webhook(const toml::value& item, const std::string& where) {
  if (!item.is_table()) return key_error(where, "must be a table");
  for (const auto& [key, value] : item.as_table()) {
    if (key != "url" && key != "ca_file" && key != "timeout" && key != "max_attempts") {
      return key_error(where + "." + key, "unknown key");
    }
  }
  if (!item.contains("url")) return key_error(where + ".url", "required");
  const auto& url = item.as_table().at("url");
  if (!url.is_string()) return key_error(where + ".url", "must be a string");
  WebhookTarget target;
  target.url = url.as_string().str;
  auto parsed = parse_url(target.url);
  if (!parsed) return key_error(where + ".url", parsed.error().message);
  if (auto r = read_webhook_options(item, where, parsed->https, target); !r) {
    return tl::make_unexpected(r.error());
  }
  return target;
}

Result<std::vector<WebhookTarget>> read_webhooks(const toml::value& notify) {
  if (!notify.is_table()) return key_error("notify", "must be a table");
  for (const auto& [key, value] : notify.as_table()) {
    if (key != "webhook") return key_error("notify." + key, "unknown key");
  }
  std::vector<WebhookTarget> out;
  if (!notify.contains("webhook")) return out;
  const auto& list = notify.as_table().at("webhook");
  if (!list.is_array()) {
    return key_error("notify.webhook", "must be an array of tables [[notify.webhook]]");
  }
  if (list.as_array().size() > kMaxWebhooks) {
    return key_error("notify.webhook", "at most " + std::to_string(kMaxWebhooks) + " webhooks");
  }
  for (std::size_t i = 0; i < list.as_array().size(); ++i) {
    auto target = read_webhook(list.as_array()[i], "notify.webhook[" + std::to_string(i) + "]");
    if (!target) return tl::make_unexpected(target.error());
    out.push_back(std::move(*target));
  }
  return out;
}

}  // namespace

std::string webhook_display(const std::string& url) {
  auto parsed = parse_url(url);
  return parsed ? parsed->display() : "(invalid URL)";
}

Result<std::vector<WebhookTarget>> parse_webhooks(const toml::value& notify_section,
                                                  const std::string& file_name) {
  auto out = read_webhooks(notify_section);
  if (!out) return fail(out.error().code, file_name + ": " + out.error().message);
  return out;
}

// One target: its queue, and the thread that empties it. The client is used by that thread only.
struct WebhookNotifier::Worker {
  struct Delivery {
    std::shared_ptr<const Notification> notification;
    std::shared_ptr<const std::string> body;
  };

  Worker(WebhookTarget t, const WebhookOptions& o, NotifyFailure f)
      : target(std::move(t)), options(o), on_failure(std::move(f)), rng(std::random_device{}()) {
    target.max_attempts = std::clamp(target.max_attempts, 1, kMaxAttempts);
    options.max_queue = std::max<std::size_t>(options.max_queue, 1);
    auto parsed = parse_url(target.url);
    if (!parsed) {
      display = "(invalid URL)";
      notify_log()->error("webhook {}: {}; its notifications will be reported as failed", display,
                          parsed.error().message);
      return;
    }
    url = *parsed;
    display = url.display();
    make_client();
  }

  void make_client() {
    if (url.https) {
      auto ssl = std::make_unique<httplib::SSLClient>(url.host, url.port);
      ssl->enable_server_certificate_verification(true);
      if (target.ca_file) ssl->set_ca_cert_path(*target.ca_file);
      client = std::move(ssl);
    } else {
      client = std::make_unique<httplib::ClientImpl>(url.host, url.port);
      notify_log()->warn(
          "webhook {} is plain http: notifications and the URL cross the network in clear",
          display);
    }
    client->set_connection_timeout(target.timeout);
    client->set_read_timeout(target.timeout);
    client->set_write_timeout(target.timeout);
    client->set_keep_alive(false);
    // A redirect could carry the body (and the token in the path) to another host.
    client->set_follow_location(false);
  }

  // Delivery thread: takes deliveries in order until stopped and drained (or out of time).
  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;
      if (stopping && std::chrono::steady_clock::now() >= deadline) {
        std::deque<Delivery> left;
        left.swap(queue);
        lock.unlock();
        for (const auto& d : left) report(d, "not delivered before shutdown");
        return;
      }
      Delivery d = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      deliver(d);
      lock.lock();
    }
  }

  void deliver(const Delivery& d) {
    std::string last;
    for (int attempt = 1; attempt <= target.max_attempts; ++attempt) {
      const Attempt a = post(*d.body);
      if (a.outcome == Attempt::kDelivered) {
        notify_log()->debug("{} delivered to {} (attempt {})", d.notification->event, display,
                            attempt);
        return;
      }
      if (a.outcome == Attempt::kFinal) return report(d, "refused: " + a.reason);
      last = a.reason;
      notify_log()->debug("{} to {}: attempt {} of {} failed: {}", d.notification->event, display,
                          attempt, target.max_attempts, a.reason);
      if (attempt == target.max_attempts) break;
      if (!wait_before_retry(backoff(attempt, a.retry_after))) {
        return report(d, "not delivered before shutdown after " + std::to_string(attempt) +
                             " attempts: " + last);
      }
    }
    report(d, "gave up after " + std::to_string(target.max_attempts) + " attempts: " + last);
  }

  Attempt post(const std::string& body) {
    if (!client) return {Attempt::kFinal, "invalid webhook URL", {}};
    httplib::Request req;
    req.method = "POST";
    req.path = url.path;
    req.headers.emplace("Host", url.port == (url.https ? 443 : 80)
                                    ? url.bracketed_host()
                                    : url.bracketed_host() + ":" + std::to_string(url.port));
    req.headers.emplace("Content-Type", "application/json");
    req.headers.emplace("User-Agent", "sekisho/" SEKISHO_VERSION);
    req.body = body;
    std::size_t answered = 0;
    req.content_receiver = [&](const char*, std::size_t n, std::uint64_t, std::uint64_t) {
      answered += n;
      return answered <= kMaxAnswerBytes;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool sent = client->send(req, res, err);
    // An oversized answer is cut short, but its status line was already read.
    if (sent || (err == httplib::Error::Canceled && res.status > 0)) return classify_status(res);
    return classify_error(err);
  }

  std::chrono::milliseconds backoff(int attempt, std::chrono::milliseconds retry_after) {
    auto delay = options.backoff_base;
    for (int i = 1; i < attempt && delay < options.backoff_cap; ++i) delay *= 2;
    delay = std::min(delay, options.backoff_cap);
    std::uniform_int_distribution<std::chrono::milliseconds::rep> jitter(0, delay.count() / 2);
    delay -= std::chrono::milliseconds(jitter(rng));
    // The service knows best how long it needs, within our cap.
    return std::max(delay, std::min(retry_after, options.backoff_cap));
  }

  // Waits `delay`; false when stop()'s deadline would pass first.
  bool wait_before_retry(std::chrono::milliseconds delay) {
    const SteadyTime until = std::chrono::steady_clock::now() + delay;
    std::unique_lock lock(mu);
    for (;;) {  // ends by `until`, or at once once stopping with too little time left
      if (stopping && until > deadline) return false;
      if (std::chrono::steady_clock::now() >= until) return true;
      cv.wait_until(lock, until);
    }
  }

  // Tells the log and the owner that `d` will never reach this target.
  void report(const Delivery& d, const std::string& reason) const {
    notify_log()->warn("{} not delivered to {}: {}", d.notification->event, display, reason);
    if (!on_failure) return;
    try {
      on_failure(display, *d.notification, reason);
    } catch (const std::exception& e) {
      // An exception must not end a delivery thread (std::terminate).
      notify_log()->error("failure callback for {} threw: {}", display, e.what());
    }
  }

  WebhookTarget target;
  WebhookOptions options;
  NotifyFailure on_failure;
  WebhookUrl url;
  std::string display;
  std::unique_ptr<httplib::ClientImpl> client;
  std::minstd_rand rng;  // jitter only: it needs no cryptographic quality

  std::mutex mu;  // guards what follows
  std::condition_variable cv;
  std::deque<Delivery> queue;
  bool stopping = false;
  SteadyTime deadline;
  std::thread thread;
};

WebhookNotifier::WebhookNotifier(std::vector<WebhookTarget> targets, WebhookOptions options,
                                 NotifyFailure on_failure, const Clock& clock)
    : clock_(clock), options_(options) {
  for (auto& t : targets) {
    workers_.push_back(std::make_unique<Worker>(std::move(t), options_, on_failure));
  }
  try {
    for (auto& w : workers_) w->thread = std::thread([w = w.get()] { w->run(); });
  } catch (...) {
    stop();
    throw;
  }
}

WebhookNotifier::~WebhookNotifier() { stop(); }

void WebhookNotifier::notify(Notification n) {
  if (workers_.empty()) return;
  auto notification = std::make_shared<const Notification>(std::move(n));
  auto body = std::make_shared<const std::string>(payload(*notification, clock_.now()));
  // Reported after the locks are released: the callback may write to the store.
  struct Failure {
    const Worker* worker;
    Worker::Delivery delivery;
    std::string reason;
  };
  std::vector<Failure> failures;
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mu);
      if (w->stopping) {
        failures.push_back({w.get(), {notification, body}, "notifier stopped"});
        continue;
      }
      if (w->queue.size() >= w->options.max_queue) {
        failures.push_back(
            {w.get(), std::move(w->queue.front()),
             "dropped: queue full (" + std::to_string(w->options.max_queue) + " waiting)"});
        w->queue.pop_front();
      }
      w->queue.push_back({notification, body});
    }
    w->cv.notify_all();
  }
  for (const auto& f : failures) f.worker->report(f.delivery, f.reason);
}

void WebhookNotifier::stop() {
  const SteadyTime deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  for (auto& w : workers_) {
    {
      std::lock_guard lock(w->mu);
      if (w->stopping) continue;
      w->stopping = true;
      w->deadline = deadline;
    }
    w->cv.notify_all();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace sekisho::broker
