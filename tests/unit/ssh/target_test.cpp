// The target login's steps that need no sshd (ssh/target.hpp); the login itself against a real
// sshd is tests/integration/ssh_gateway_test.sh's.
#include "ssh/target.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace sekisho::ssh {
namespace {

TEST(TargetTest, OffersOnlyThePinnedKeysType) {
  EXPECT_EQ(host_key_algorithms("ssh-ed25519 AAAAC3Nza"), "ssh-ed25519");
  EXPECT_EQ(host_key_algorithms("ecdsa-sha2-nistp256 AAAAE2Vj"), "ecdsa-sha2-nistp256");
  // An RSA key is the same key under its SHA-2 signature algorithms (ssh-rsa signs with SHA-1).
  EXPECT_EQ(host_key_algorithms("ssh-rsa AAAAB3Nza"), "rsa-sha2-512,rsa-sha2-256");
}

TEST(TargetTest, AHandshakeWithAPeerThatHangsUpIsUnavailable) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ::close(fds[1]);  // the "target" hangs up before its banner
  auto session = new_target_session(
      {.address = "127.0.0.1", .port = 22, .account = "root", .pinned_host_key = "ssh-ed25519 A"});
  ASSERT_TRUE(session) << session.error().message;
  auto r = handshake_target(session->get(), fds[0]);  // the session owns fds[0] from here
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message.rfind("cannot reach the target host: ", 0), 0U) << r.error().message;
}

TEST(TargetTest, NoHostKeyBeforeAHandshake) {
  auto session = new_target_session(
      {.address = "127.0.0.1", .port = 22, .account = "root", .pinned_host_key = "ssh-ed25519 A"});
  ASSERT_TRUE(session) << session.error().message;
  auto key = presented_host_key(session->get());
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(key.error().message, "the target host sent no host key");
}

}  // namespace
}  // namespace sekisho::ssh
