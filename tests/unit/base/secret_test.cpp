#include "base/secret.hpp"

#include <gtest/gtest.h>

#include <type_traits>

namespace sekisho {
namespace {

static_assert(!std::is_copy_constructible_v<Secret>);
static_assert(!std::is_copy_assignable_v<Secret>);
static_assert(std::is_nothrow_move_constructible_v<Secret>);

TEST(Secret, CopiesBytesAndComparesInConstantTimeHelper) {
  const Secret a = Secret::copy_of(std::string_view("hunter2"));
  const Secret b = Secret::copy_of(std::string_view("hunter2"));
  const Secret c = Secret::copy_of(std::string_view("hunter3"));
  EXPECT_EQ(a.view(), "hunter2");
  EXPECT_TRUE(a.equals(b));
  EXPECT_FALSE(a.equals(c));
  EXPECT_FALSE(a.equals(Secret::copy_of(std::string_view("hunter"))));
}

TEST(Secret, MoveLeavesSourceEmpty) {
  Secret a = Secret::copy_of(std::string_view("pw"));
  Secret b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(b.view(), "pw");
  Secret c(4);
  c = std::move(b);
  EXPECT_EQ(c.view(), "pw");
}

TEST(Secret, NewSecretIsZeroed) {
  const Secret s(100);
  for (std::uint8_t byte : s.bytes()) EXPECT_EQ(byte, 0);
}

TEST(Secret, WipeClearsBuffer) {
  char buf[8] = {'s', 'e', 'c', 'r', 'e', 't', '!', '!'};
  wipe(buf, sizeof buf);
  for (char ch : buf) EXPECT_EQ(ch, 0);
}

}  // namespace
}  // namespace sekisho
