// The core ↔ worker wire: framing, descriptor passing and size limits (the stage whitelist is
// the monitor's table: ssh_monitor_test.cpp).
#include "privsep/worker_protocol.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace sekisho::wire {
namespace {

struct Pair {
  Fd a, b;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a = Fd(fds[0]);
    b = Fd(fds[1]);
  }
};

void write_raw(int fd, const std::string& bytes) {
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

std::string prefix(std::uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n)};
}

TEST(WorkerProtocol, RoundTripsMessagesInOrder) {
  Pair p;
  ASSERT_TRUE(send_message(p.a.get(), {{"type", "auth_pubkey"}, {"target", "root@web01"}}));
  ASSERT_TRUE(send_message(p.a.get(), {{"type", "authorize"}}));
  auto first = receive_message(p.b.get());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->body["target"], "root@web01");
  EXPECT_FALSE(first->fd);
  auto second = receive_message(p.b.get());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body["type"], "authorize");
}

TEST(WorkerProtocol, PassesOneDescriptor) {
  Pair p;
  Fd file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file);
  ASSERT_TRUE(send_message(p.a.get(), {{"type", "open_recording"}}, file.get()));
  auto got = receive_message(p.b.get());
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->fd);
  EXPECT_NE(got->fd.get(), file.get());
  struct stat a {
  }, b{};
  ASSERT_EQ(::fstat(file.get(), &a), 0);
  ASSERT_EQ(::fstat(got->fd.get(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_NE(::fcntl(got->fd.get(), F_GETFD) & FD_CLOEXEC, 0);  // never leaks into a child
}

TEST(WorkerProtocol, OrderlyCloseIsNotFound) {
  Pair p;
  p.a = Fd();
  auto got = receive_message(p.b.get());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kNotFound);
}

TEST(WorkerProtocol, RefusesOversizedFramesWithoutReadingThem) {
  Pair p;
  write_raw(p.a.get(), prefix(static_cast<std::uint32_t>(kMaxMessage + 1)));
  auto got = receive_message(p.b.get());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(got.error().message.find("limit"), std::string::npos);
}

TEST(WorkerProtocol, RefusesSendingOversizedMessages) {
  Pair p;
  auto sent = send_message(p.a.get(), {{"type", "x"}, {"pad", std::string(kMaxMessage, 'a')}});
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, ErrorCode::kInvalidArgument);
}

TEST(WorkerProtocol, RefusesBodiesThatAreNotTypedObjects) {
  for (const std::string body : {"[1,2]", "{\"type\":5}", "{\"x\":1}", "not json", "{"}) {
    Pair p;
    write_raw(p.a.get(), prefix(static_cast<std::uint32_t>(body.size())) + body);
    auto got = receive_message(p.b.get());
    ASSERT_FALSE(got) << body;
    EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument) << body;
  }
}

TEST(WorkerProtocol, FrameCutShortIsAnIoError) {
  Pair p;
  write_raw(p.a.get(), prefix(100) + "{\"type\":");
  p.a = Fd();
  auto got = receive_message(p.b.get());
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kIo);
}

TEST(WorkerProtocol, TakeSecretMovesItOutOfTheMessage) {
  nlohmann::json body = {{"type", "credential"}, {"secret", "Root-Secret-1"}};
  auto secret = take_secret(body, "secret");
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->view(), "Root-Secret-1");
  EXPECT_FALSE(body.contains("secret"));
  EXPECT_EQ(body.dump().find("Root-Secret"), std::string::npos);
  EXPECT_FALSE(take_secret(body, "secret"));
}

}  // namespace
}  // namespace sekisho::wire
