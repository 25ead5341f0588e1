// The API's own accept loop in front of cpp-httplib (docs/api.md "Connections"): one epoll thread
// accepts, enforces the per-source and total connection caps, runs every TLS handshake and reads
// every request without blocking, with deadlines; a small pool of threads only ever sees requests
// that are already whole in memory. A connection that never speaks, stalls inside the handshake
// or inside a request therefore costs a file descriptor and a deadline, never a serving thread.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.hpp"
#include "broker/api/connection.hpp"
#include "broker/daemon/config.hpp"

namespace sekisho::broker {

struct ApiListenerLimits {
  std::size_t max_connections_per_source = 32;  // [api] max_connections_per_source
  std::size_t max_connections = 512;            // all sources together
  std::chrono::seconds handshake_timeout{5};    // accept to first request byte ([api])
  std::chrono::seconds request_timeout{10};     // first byte to whole request
  std::chrono::seconds keep_alive_timeout{5};   // between requests on one connection
  std::chrono::seconds write_timeout{10};       // a response the peer does not take
  std::size_t max_body_bytes = 1024 * 1024;     // [api] max_body_bytes
  std::size_t threads = 8;                      // request-serving threads
};

class ApiListener {
 public:
  // `ctx` and `processor` must outlive the listener.
  ApiListener(SSL_CTX* ctx, ApiRequestProcessor& processor, ApiListenerLimits limits);
  ~ApiListener();
  ApiListener(const ApiListener&) = delete;
  ApiListener& operator=(const ApiListener&) = delete;

  // Binds and listens; returns the bound port (the kernel's choice when configured as 0).
  [[nodiscard]] Result<int> bind(const ListenAddress& address);
  // The listening socket (-1 before bind()).
  int socket() const { return listen_fd_; }
  // Serves until stop(); returns false when the loop failed rather than being stopped.
  bool run();
  // Makes run() return (also when called before run()). Any thread may call it.
  void stop();

 private:
  using Clock = std::chrono::steady_clock;

  void accept_all();
  void close_connection(int fd);
  void progress(ApiConnection& conn);
  bool handshake(ApiConnection& conn);
  bool read_available(ApiConnection& conn);
  void dispatch_or_wait(ApiConnection& conn);
  void watch(ApiConnection& conn, bool add);
  void take_back_served();
  void close_expired();
  void serve_forever();
  void log_refusal(const std::string& message);

  SSL_CTX* ctx_;
  ApiRequestProcessor& processor_;
  ApiListenerLimits limits_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop() and the serving threads wake the loop
  std::atomic<bool> stop_requested_{false};

  // Loop thread only: every open connection (also while a serving thread has it) and the count of
  // open connections per source address.
  std::map<int, std::unique_ptr<ApiConnection>> conns_;
  std::map<std::string, std::size_t> per_source_;
  Clock::time_point last_refusal_log_{};
  std::size_t refusals_not_logged_ = 0;

  std::mutex mu_;
  std::condition_variable ready_cv_;
  std::deque<ApiConnection*> ready_;    // whole requests waiting for a serving thread
  std::vector<ApiConnection*> served_;  // back from a serving thread
  bool pool_stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sekisho::broker
