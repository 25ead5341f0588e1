#include "privsep/worker_protocol.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "base/files.hpp"

namespace sekisho::wire {

namespace {

// Writes all of `data` (after a first part that sendmsg already sent). Retries EINTR.
Result<void> write_all(int sock, const char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::send(sock, data + done, size - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorCode::kIo, "worker channel write failed: " + errno_text(errno));
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

Result<void> read_all(int sock, char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::recv(sock, data + done, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrorCode::kIo, "worker channel read failed: " + errno_text(errno));
    if (n == 0) return fail(ErrorCode::kIo, "worker channel closed inside a message");
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> send_message(int sock, const nlohmann::json& body, int pass_fd) {
  std::string text = body.dump();
  if (text.size() > kMaxMessage) {
    wipe(text.data(), text.size());
    return fail(ErrorCode::kInvalidArgument, "worker message too large");
  }
  const auto size = static_cast<std::uint32_t>(text.size());
  std::array<char, 4> prefix{static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                             static_cast<char>(size >> 8), static_cast<char>(size)};
  iovec iov{prefix.data(), prefix.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  if (pass_fd >= 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  ssize_t n = -1;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  Result<void> result = ok();
  if (n < 0) {
    result = fail(ErrorCode::kIo, "worker channel write failed: " + errno_text(errno));
  } else if (auto rest =
                 write_all(sock, prefix.data() + n, prefix.size() - static_cast<std::size_t>(n));
             !rest) {
    result = rest;
  } else {
    result = write_all(sock, text.data(), text.size());
  }
  wipe(text.data(), text.size());
  return result;
}

Result<Message> receive_message(int sock) {
  std::array<char, 4> prefix{};
  iovec iov{prefix.data(), prefix.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 4)> control{};
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n = -1;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return fail(ErrorCode::kIo, "worker channel read failed: " + errno_text(errno));
  if (n == 0) return fail(ErrorCode::kNotFound, "peer closed");

  Message out;
  int fds_seen = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      Fd owned(fd);  // every received descriptor is owned, so extras are closed
      if (fds_seen++ == 0) out.fd = std::move(owned);
    }
  }
  if (fds_seen > 1 || (msg.msg_flags & MSG_CTRUNC) != 0) {
    return fail(ErrorCode::kInvalidArgument, "worker message with more than one descriptor");
  }
  if (auto rest = read_all(sock, prefix.data() + n, prefix.size() - static_cast<std::size_t>(n));
      !rest) {
    return tl::make_unexpected(rest.error());
  }
  const std::uint32_t size =
      (static_cast<std::uint32_t>(static_cast<unsigned char>(prefix[0])) << 24) |
      (static_cast<std::uint32_t>(static_cast<unsigned char>(prefix[1])) << 16) |
      (static_cast<std::uint32_t>(static_cast<unsigned char>(prefix[2])) << 8) |
      static_cast<std::uint32_t>(static_cast<unsigned char>(prefix[3]));
  if (size == 0 || size > kMaxMessage) {
    return fail(ErrorCode::kInvalidArgument, "worker message of " + std::to_string(size) +
                                                 " bytes (limit " + std::to_string(kMaxMessage) +
                                                 ")");
  }
  std::string text(size, '\0');
  if (auto r = read_all(sock, text.data(), text.size()); !r) return tl::make_unexpected(r.error());
  out.body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  wipe(text.data(), text.size());
  if (!out.body.is_object() || !out.body.contains("type") || !out.body["type"].is_string()) {
    return fail(ErrorCode::kInvalidArgument, "worker message is not an object with a type");
  }
  return out;
}

Result<Secret> take_secret(nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) {
    return fail(ErrorCode::kInvalidArgument, std::string("message lacks ") + name);
  }
  auto& text = it->get_ref<std::string&>();
  Secret secret = Secret::copy_of(std::string_view(text));
  wipe(text.data(), text.size());
  body.erase(it);
  return secret;
}

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::kStart:
      return "start";
    case Stage::kSecondFactor:
      return "second factor";
    case Stage::kAuthenticated:
      return "authenticated";
    case Stage::kAuthorized:
      return "authorized";
    case Stage::kConnected:
      return "connected";
    case Stage::kRecording:
      return "recording";
    case Stage::kSigned:
      return "signed";
    case Stage::kEnded:
      return "ended";
  }
  return "?";
}

}  // namespace sekisho::wire
