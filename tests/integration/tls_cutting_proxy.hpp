// A loopback TCP proxy for fault injection in front of a real TLS server: it forwards both
// directions unchanged, except that on the first connection after arm(k) it closes both sides
// just before forwarding the client's k-th TLS record (the server never sees that record; the
// client has sent it and waits for an answer). Later connections pass untouched. Header-only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace sekisho::ldap::testing {

class TlsCuttingProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards to 127.0.0.1:`server_port`.
  explicit TlsCuttingProxy(int server_port) : server_port_(server_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 8) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  TlsCuttingProxy(const TlsCuttingProxy&) = delete;
  TlsCuttingProxy& operator=(const TlsCuttingProxy&) = delete;
  ~TlsCuttingProxy() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(listen_fd_);
  }

  int port() const { return port_; }  // 0 when the proxy could not listen
  void arm(int k) {
    cut_done_ = false;
    cut_at_ = k;
  }
  bool cut() const { return cut_done_; }  // the armed connection was cut

 private:
  static constexpr int kPollMs = 50;

  // Accepts one connection at a time (the connector opens them one after another) until stopped.
  void run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, kPollMs) <= 0) continue;
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      const int server = connect_server();
      if (server >= 0) relay(client, server, cut_at_.exchange(0));
      if (server >= 0) close(server);
      close(client);
    }
  }

  int connect_server() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(server_port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  // Relays until either side closes, or (cut_at > 0) until the client's cut_at-th TLS record.
  void relay(int client, int server, int cut_at) {
    std::vector<unsigned char> pending;  // client bytes not yet forwarded (an incomplete record)
    int records = 0;
    char buf[16384];
    while (!stop_) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(p, 2, kPollMs) <= 0) continue;
      if (p[1].revents != 0) {
        const ssize_t n = read(server, buf, sizeof buf);
        if (n <= 0 || write(client, buf, static_cast<std::size_t>(n)) != n) return;
      }
      if (p[0].revents == 0) continue;
      const ssize_t n = read(client, buf, sizeof buf);
      if (n <= 0) return;
      pending.insert(pending.end(), buf, buf + n);
      // A TLS record: type (1), version (2), length (2, big-endian), then the body.
      while (pending.size() >= 5) {
        const std::size_t size = 5 + ((pending[3] << 8) | pending[4]);
        if (pending.size() < size) break;
        if (cut_at > 0 && ++records == cut_at) {
          cut_done_ = true;
          shutdown(client, SHUT_RDWR);
          shutdown(server, SHUT_RDWR);
          return;
        }
        if (write(server, pending.data(), size) != static_cast<ssize_t>(size)) return;
        pending.erase(pending.begin(), pending.begin() + static_cast<long>(size));
      }
    }
  }

  int server_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> cut_at_{0};
  std::atomic<bool> cut_done_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts after the members it uses exist
};

}  // namespace sekisho::ldap::testing
