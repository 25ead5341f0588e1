// WebhookNotifier against real HTTP(S) receivers on 127.0.0.1 (port 0): no mocked HTTP.
// No assertion depends on wall-clock speed: waits are bounded only so that a bug fails the test
// instead of hanging it, and stop() is the barrier after which deliveries are counted.
#include "broker/access/notifier.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include "base/logging.hpp"
#include "broker/daemon/gateway_keys.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;

constexpr auto kPatience = 60s;  // the bound on every wait; never reached when the code works
constexpr char kSecretPath[] = "/hooks/T0KEN-s3cret";

// An HTTP(S) server on 127.0.0.1 that answers the queued statuses in order, then 200, and can
// hold requests until released.
class Receiver {
 public:
  explicit Receiver(std::vector<int> statuses = {},
                    std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
      : statuses_(std::move(statuses)), server_(std::move(server)) {
    server_->Post(
        ".*", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() is a no-op before the accept loop runs, so wait for it (bounded).
    for (int i = 0; i < 10000 && !server_->is_running(); ++i) std::this_thread::sleep_for(1ms);
  }
  ~Receiver() {
    release();
    server_->stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + kSecretPath + "?channel=ops";
  }
  std::string display(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }

  void stall() {
    std::lock_guard lock(mu_);
    stalled_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      stalled_ = false;
    }
    cv_.notify_all();
  }
  // True once `n` requests have reached the handler.
  bool wait_entered(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return attempts_ >= n; });
  }

  int attempts() const {
    std::lock_guard lock(mu_);
    return attempts_;
  }
  std::vector<nlohmann::json> delivered() const {
    std::lock_guard lock(mu_);
    return delivered_;
  }
  std::vector<std::string> targets() const {  // request paths with query
    std::lock_guard lock(mu_);
    return targets_;
  }
  std::vector<std::string> content_types() const {
    std::lock_guard lock(mu_);
    return content_types_;
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    std::unique_lock lock(mu_);
    ++attempts_;
    cv_.notify_all();
    cv_.wait_for(lock, kPatience, [&] { return !stalled_; });
    const int status = next_ < statuses_.size() ? statuses_[next_++] : 200;
    res.status = status;
    if (status >= 300 && status < 400) res.set_header("Location", "http://127.0.0.1:1/elsewhere");
    if (status >= 200 && status < 300) {
      delivered_.push_back(nlohmann::json::parse(req.body, nullptr, false));
      std::string target = req.path;
      if (!req.params.empty()) target += "?channel=" + req.get_param_value("channel");
      targets_.push_back(target);
      content_types_.push_back(req.get_header_value("Content-Type"));
      res.set_content("ok", "text/plain");
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stalled_ = false;
  std::vector<int> statuses_;
  std::size_t next_ = 0;
  int attempts_ = 0;
  std::vector<nlohmann::json> delivered_;
  std::vector<std::string> targets_;
  std::vector<std::string> content_types_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

// What on_failure was told.
struct Failure {
  std::string target;
  std::string event;
  std::string text;
  std::string reason;
};

class Failures {
 public:
  NotifyFailure callback() {
    return [this](const std::string& target, const Notification& n, const std::string& reason) {
      std::lock_guard lock(mu_);
      list_.push_back({target, n.event, n.text, reason});
    };
  }
  std::vector<Failure> list() const {
    std::lock_guard lock(mu_);
    return list_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Failure> list_;
};

// A 127.0.0.1 port that is bound but not listening: connecting to it is refused, and nobody
// else can take it while this lives.
class ClosedPort {
 public:
  ClosedPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot bind a port on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~ClosedPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// Everything the notifier logs, while it lives.
class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)),
        level_(module_logger("notify")->level()) {
    module_logger("notify")->sinks().push_back(sink_);
    module_logger("notify")->set_level(spdlog::level::debug);
  }
  ~LogCapture() {
    auto& sinks = module_logger("notify")->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    module_logger("notify")->set_level(level_);
  }
  std::string text() {
    sink_->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  spdlog::level::level_enum level_;
};

WebhookOptions fast_options() {
  WebhookOptions o;
  o.backoff_base = 1ms;
  o.backoff_cap = 4ms;
  o.drain_timeout = kPatience;
  return o;
}

WebhookTarget target(const std::string& url, int max_attempts = 5) {
  WebhookTarget t;
  t.url = url;
  t.timeout = 30s;
  t.max_attempts = max_attempts;
  return t;
}

Notification note(const std::string& text, const std::string& event = "request.created") {
  return Notification{event, text, {{"request", "r-42"}, {"requester", "alice"}}};
}

const TimePoint kNow = parse_time("2026-11-26T16:00:00.123Z").value();

TEST(WebhookNotifier, PostsTextEventFieldsAndSentAtAsJson) {
  Receiver receiver;
  Failures failures;
  TestClock clock(kNow);
  {
    WebhookNotifier notifier({target(receiver.url())}, fast_options(), failures.callback(), clock);
    notifier.notify(note("alice asks for root@web01: disk full", "request.created"));
    notifier.stop();
  }
  ASSERT_EQ(receiver.delivered().size(), 1u);
  const auto body = receiver.delivered()[0];
  EXPECT_EQ(body["text"], "alice asks for root@web01: disk full");
  EXPECT_EQ(body["event"], "request.created");
  EXPECT_EQ(body["fields"]["request"], "r-42");
  EXPECT_EQ(body["fields"]["requester"], "alice");
  EXPECT_EQ(body["sent_at"], "2026-11-26T16:00:00.123Z");
  EXPECT_EQ(receiver.content_types(), (std::vector<std::string>{"application/json"}));
  // The path and query of the URL are where the request goes.
  EXPECT_EQ(receiver.targets(),
            (std::vector<std::string>{std::string(kSecretPath) + "?channel=ops"}));
  EXPECT_TRUE(failures.list().empty());
}

TEST(WebhookNotifier, RetriesServerErrorsUntilDelivered) {
  Receiver receiver({500, 500});
  Failures failures;
  TestClock clock(kNow);
  WebhookNotifier notifier({target(receiver.url())}, fast_options(), failures.callback(), clock);
  notifier.notify(note("approved"));
  notifier.stop();
  EXPECT_EQ(receiver.attempts(), 3);
  EXPECT_EQ(receiver.delivered().size(), 1u);
  EXPECT_TRUE(failures.list().empty());
}

TEST(WebhookNotifier, RetriesTooManyRequests) {
  Receiver receiver({429, 503});
  Failures failures;
  TestClock clock(kNow);
  WebhookNotifier notifier({target(receiver.url())}, fast_options(), failures.callback(), clock);
  notifier.notify(note("approved"));
  notifier.stop();
  EXPECT_EQ(receiver.attempts(), 3);
  EXPECT_EQ(receiver.delivered().size(), 1u);
  EXPECT_TRUE(failures.list().empty());
}

TEST(WebhookNotifier, ClientErrorIsNotRetriedAndIsReported) {
  Receiver receiver({400});
  Failures failures;
  TestClock clock(kNow);
  WebhookNotifier notifier({target(receiver.url())}, fast_options(), failures.callback(), clock);
  notifier.notify(note("denied", "request.denied"));
  notifier.stop();
  EXPECT_EQ(receiver.attempts(), 1);
  const auto list = failures.list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].target, receiver.display());
  EXPECT_EQ(list[0].event, "request.denied");
  EXPECT_NE(list[0].reason.find("HTTP 400"), std::string::npos) << list[0].reason;
}

TEST(WebhookNotifier, RedirectIsNotFollowed) {
  Receiver receiver({302});
  Failures failures;
  TestClock clock(kNow);
  WebhookNotifier notifier({target(receiver.url())}, fast_options(), failures.callback(), clock);
  notifier.notify(note("approved"));
  notifier.stop();
  EXPECT_EQ(receiver.attempts(), 1);
  ASSERT_EQ(failures.list().size(), 1u);
  EXPECT_NE(failures.list()[0].reason.find("redirects are not followed"), std::string::npos);
}

TEST(WebhookNotifier, UnreachableTargetExhaustsAttemptsAndHidesThePath) {
  ClosedPort closed;
  Failures failures;
  TestClock clock(kNow);
  LogCapture logs;
  const std::string url =
      "http://127.0.0.1:" + std::to_string(closed.port()) + kSecretPath + "?channel=ops";
  {
    WebhookNotifier notifier({target(url, 3)}, fast_options(), failures.callback(), clock);
    notifier.notify(note("break glass on root@db01", "request.break_glass"));
    notifier.stop();
  }
  const auto list = failures.list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].target, "http://127.0.0.1:" + std::to_string(closed.port()));
  EXPECT_EQ(list[0].event, "request.break_glass");
  EXPECT_EQ(list[0].reason.rfind("gave up after 3 attempts: connection failed", 0), 0u)
      << list[0].reason;
  EXPECT_EQ(list[0].reason.find("T0KEN"), std::string::npos);
  const std::string logged = logs.text();
  EXPECT_NE(logged.find(list[0].target), std::string::npos) << logged;
  EXPECT_EQ(logged.find("T0KEN"), std::string::npos) << logged;
  EXPECT_EQ(logged.find("channel"), std::string::npos) << logged;
}

TEST(WebhookNotifier, NotifyDoesNotWaitForAStalledReceiver) {
  Receiver receiver;
  Failures failures;
  TestClock clock(kNow);
  receiver.stall();
  WebhookNotifier notifier({target(receiver.url())}, fast_options(), failures.callback(), clock);
  notifier.notify(note("first"));
  ASSERT_TRUE(receiver.wait_entered(1));
  // The delivery thread is now held inside the receiver; these calls must still return.
  for (const char* text : {"second", "third", "fourth"}) notifier.notify(note(text));
  EXPECT_TRUE(receiver.delivered().empty());  // returned while nothing was answered yet
  receiver.release();
  notifier.stop();
  std::vector<std::string> texts;
  for (const auto& body : receiver.delivered()) texts.push_back(body["text"]);
  EXPECT_EQ(texts, (std::vector<std::string>{"first", "second", "third", "fourth"}));
  EXPECT_TRUE(failures.list().empty());
}

TEST(WebhookNotifier, FullQueueDropsTheOldestAndReportsIt) {
  Receiver receiver;
  Failures failures;
  TestClock clock(kNow);
  receiver.stall();
  WebhookOptions options = fast_options();
  options.max_queue = 2;
  WebhookNotifier notifier({target(receiver.url())}, options, failures.callback(), clock);
  notifier.notify(note("in flight"));
  ASSERT_TRUE(receiver.wait_entered(1));  // taken off the queue, held by the receiver
  notifier.notify(note("oldest waiting"));
  notifier.notify(note("second waiting"));
  notifier.notify(note("newest"));  // the queue holds 2: "oldest waiting" goes
  const auto list = failures.list();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].text, "oldest waiting");
  EXPECT_EQ(list[0].target, receiver.display());
  EXPECT_EQ(list[0].reason.rfind("dropped", 0), 0u) << list[0].reason;
  receiver.release();
  notifier.stop();
  std::vector<std::string> texts;
  for (const auto& body : receiver.delivered()) texts.push_back(body["text"]);
  EXPECT_EQ(texts, (std::vector<std::string>{"in flight", "second waiting", "newest"}));
}

TEST(WebhookNotifier, StopDeliversEverythingQueuedToEveryTarget) {
  Receiver first({503});
  Receiver second;
  Failures failures;
  TestClock clock(kNow);
  WebhookNotifier notifier({target(first.url()), target(second.url())}, fast_options(),
                           failures.callback(), clock);
  for (int i = 0; i < 20; ++i) notifier.notify(note("n" + std::to_string(i)));
  notifier.stop();
  EXPECT_EQ(first.delivered().size(), 20u);
  EXPECT_EQ(second.delivered().size(), 20u);
  EXPECT_TRUE(failures.list().empty());
  // After stop nothing is queued any more, and that is said, not silently lost.
  notifier.notify(note("too late"));
  ASSERT_EQ(failures.list().size(), 2u);
  EXPECT_EQ(failures.list()[0].reason, "notifier stopped");
  notifier.stop();  // idempotent
}

// https: the certificate is verified against the system store unless ca_file names the anchor.
class HttpsReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "sekisho-notify-XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    ASSERT_TRUE(create_tls_identity(cert(), dir_ / "tls.key"));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string cert() const { return dir_ / "tls.crt"; }
  std::unique_ptr<httplib::Server> server() const {
    return std::make_unique<httplib::SSLServer>(cert().c_str(), (dir_ / "tls.key").c_str());
  }
  std::filesystem::path dir_;
};

TEST_F(HttpsReceiverTest, UnknownCertificateIsRefusedWithoutRetry) {
  Receiver receiver({}, server());
  Failures failures;
  TestClock clock(kNow);
  WebhookNotifier notifier({target(receiver.url("https"))}, fast_options(), failures.callback(),
                           clock);
  notifier.notify(note("approved"));
  notifier.stop();
  EXPECT_EQ(receiver.attempts(), 0);
  ASSERT_EQ(failures.list().size(), 1u);
  EXPECT_EQ(failures.list()[0].target, receiver.display("https"));
  EXPECT_NE(failures.list()[0].reason.find("verification failed"), std::string::npos)
      << failures.list()[0].reason;
}

TEST_F(HttpsReceiverTest, CaFileIsTrusted) {
  Receiver receiver({}, server());
  Failures failures;
  TestClock clock(kNow);
  WebhookTarget t = target(receiver.url("https"));
  t.ca_file = cert();
  WebhookNotifier notifier({t}, fast_options(), failures.callback(), clock);
  notifier.notify(note("approved"));
  notifier.stop();
  EXPECT_EQ(receiver.delivered().size(), 1u);
  EXPECT_TRUE(failures.list().empty());
}

// ---- configuration ----

Result<std::vector<WebhookTarget>> parse(const std::string& text) {
  std::istringstream in(text);
  const toml::value root = toml::parse(in, "test.toml");
  return parse_webhooks(root.at("notify"), "test.toml");
}

void expect_error(const std::string& text, const std::string& expected_prefix) {
  auto r = parse(text);
  ASSERT_FALSE(r) << text;
  EXPECT_EQ(r.error().message.rfind(expected_prefix, 0), 0u) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("T0KEN"), std::string::npos) << r.error().message;
}

TEST(ParseWebhooks, ReadsEveryKey) {
  auto r = parse(R"(
[[notify.webhook]]
url = "https://chat.example.com/hooks/T0KEN"
ca_file = "/etc/sekisho/chat-ca.pem"
timeout = "10s"
max_attempts = 3
[[notify.webhook]]
url = "http://[::1]:8080/x"
)");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].url, "https://chat.example.com/hooks/T0KEN");
  EXPECT_EQ((*r)[0].ca_file, "/etc/sekisho/chat-ca.pem");
  EXPECT_EQ((*r)[0].timeout, 10s);
  EXPECT_EQ((*r)[0].max_attempts, 3);
  EXPECT_EQ((*r)[1].ca_file, std::nullopt);
  EXPECT_EQ((*r)[1].timeout, 5s);
  EXPECT_EQ((*r)[1].max_attempts, 5);
  EXPECT_EQ(webhook_display((*r)[0].url), "https://chat.example.com:443");
  EXPECT_EQ(webhook_display((*r)[1].url), "http://[::1]:8080");
}

TEST(ParseWebhooks, EmptyNotifySectionHasNoTargets) {
  auto r = parse("[notify]\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->empty());
}

TEST(ParseWebhooks, RefusesWhatIsWrongNamingFileAndKey) {
  expect_error("[[notify.webhook]]\ntimeout = \"5s\"\n",
               "test.toml: notify.webhook[0].url: required");
  expect_error("[[notify.webhook]]\nurl = \"ftp://chat.example.com/T0KEN\"\n",
               "test.toml: notify.webhook[0].url: must start with http:// or https://");
  expect_error("[[notify.webhook]]\nurl = \"https://bot:T0KEN@chat.example.com/\"\n",
               "test.toml: notify.webhook[0].url: user:password@ is not supported");
  expect_error("[[notify.webhook]]\nurl = \"https://chat.example.com:99999/T0KEN\"\n",
               "test.toml: notify.webhook[0].url: bad port");
  expect_error("[[notify.webhook]]\nurl = \"https:///T0KEN\"\n",
               "test.toml: notify.webhook[0].url: has no host");
  expect_error(
      "[[notify.webhook]]\nurl = \"https://a.example.com/\"\n"
      "[[notify.webhook]]\nurl = \"https://b.example.com/\"\nsecret = \"x\"\n",
      "test.toml: notify.webhook[1].secret: unknown key");
  expect_error("[[notify.webhook]]\nurl = \"https://a.example.com/\"\ntimeout = \"5 seconds\"\n",
               "test.toml: notify.webhook[0].timeout: ");
  expect_error("[[notify.webhook]]\nurl = \"https://a.example.com/\"\ntimeout = \"0s\"\n",
               "test.toml: notify.webhook[0].timeout: ");
  expect_error("[[notify.webhook]]\nurl = \"https://a.example.com/\"\ntimeout = 5\n",
               "test.toml: notify.webhook[0].timeout: must be a duration");
  expect_error("[[notify.webhook]]\nurl = \"https://a.example.com/\"\nmax_attempts = 0\n",
               "test.toml: notify.webhook[0].max_attempts: must be an integer from 1 to 20");
  expect_error("[[notify.webhook]]\nurl = \"http://a.example.com/\"\nca_file = \"/ca.pem\"\n",
               "test.toml: notify.webhook[0].ca_file: only applies to https:// URLs");
  // A misspelt table must not silently turn notifications off.
  expect_error("[[notify.webhooks]]\nurl = \"https://a.example.com/\"\n",
               "test.toml: notify.webhooks: unknown key");
  expect_error("[notify]\nwebhook = \"https://a.example.com/\"\n",
               "test.toml: notify.webhook: must be an array of tables");
}

}  // namespace
}  // namespace sekisho::broker
