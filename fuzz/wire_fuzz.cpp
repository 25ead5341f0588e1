// Fuzz target for what the core reads from an SSH session worker (privsep/worker_protocol.hpp):
// the input is written to one end of a socketpair, as a compromised worker would, and the core's
// wire::receive_message reads messages from the other end until it refuses one or the input
// ends; each message's "secret" goes through take_secret. (The stage whitelist is the monitor's
// request table in broker/ssh/monitor.cpp, a lookup by exact type that
// tests/unit/broker/ssh/monitor_test.cpp walks for every stage, type and unknown types.)
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "privsep/worker_protocol.hpp"

namespace {

using namespace sekisho;

constexpr std::size_t kMaxInput = 128 * 1024;  // fits the socket buffers below: no deadlock

void exercise(const wire::Message& m) {
  nlohmann::json body = m.body;
  (void)wire::take_secret(body, "secret");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxInput) size = kMaxInput;
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return 0;
  const int buf = 512 * 1024;
  ::setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
  ::setsockopt(pair[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::send(pair[0], data + done, size - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;  // the buffers are full: fuzz what fits
    done += static_cast<std::size_t>(n);
  }
  ::close(pair[0]);
  for (int i = 0; i < 64; ++i) {
    auto m = wire::receive_message(pair[1]);
    if (!m) break;
    exercise(*m);
  }
  ::close(pair[1]);
  return 0;
}
