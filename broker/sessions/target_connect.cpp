#include "broker/sessions/target_connect.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "base/files.hpp"

namespace sekisho::broker {

namespace {

using Clock = std::chrono::steady_clock;

struct AddrInfoFree {
  void operator()(addrinfo* a) const { ::freeaddrinfo(a); }
};

std::string numeric_host(const sockaddr* sa, socklen_t len) {
  char host[NI_MAXHOST] = {};
  if (::getnameinfo(sa, len, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) != 0) return "?";
  return host;
}

std::uint16_t local_port_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

// One address: 0 when connected, else the errno that says why not (ETIMEDOUT at the deadline).
int connect_one(const addrinfo& ai, Clock::time_point deadline, wire::Fd& out) {
  wire::Fd fd(
      ::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol));
  if (!fd) return errno;
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return errno;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return ETIMEDOUT;
      pollfd p{fd.get(), POLLOUT, 0};
      const int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) return ETIMEDOUT;
      break;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    if (err != 0) return err;
  }
  // libssh expects a blocking socket and sets its own mode; Nagle would delay every keystroke.
  const int flags = ::fcntl(fd.get(), F_GETFL);
  const int one = 1;
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0 ||
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
    return errno;
  }
  out = std::move(fd);
  return 0;
}

}  // namespace

Result<TargetConnection> connect_target_tcp(const std::string& address, std::uint16_t port,
                                            std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* raw = nullptr;
  const int gai = ::getaddrinfo(address.c_str(), std::to_string(port).c_str(), &hints, &raw);
  if (gai != 0) {
    return fail(ErrorCode::kUnavailable, ::gai_strerror(gai));
  }
  std::unique_ptr<addrinfo, AddrInfoFree> list(raw);
  int err = EHOSTUNREACH;
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    TargetConnection c;
    err = connect_one(*ai, deadline, c.fd);
    if (err == 0) {
      c.local_port = local_port_of(c.fd.get());
      c.peer = numeric_host(ai->ai_addr, ai->ai_addrlen) + ":" + std::to_string(port);
      return c;
    }
    if (err == ETIMEDOUT) break;  // the time is spent for every address
  }
  return fail(ErrorCode::kUnavailable, errno_text(err));
}

}  // namespace sekisho::broker
