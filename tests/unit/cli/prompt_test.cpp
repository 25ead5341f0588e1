#include "cli/prompt.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace sekisho::cli {
namespace {

TEST(ReadSecretLine, ReadsLinesInOrderFromTheStream) {
  std::istringstream in("first pass\nsecond-pass\r\nleft over\n");
  SecretSource source(in);
  auto one = source.current("unused: ", "the password");
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->view(), "first pass");  // inner spaces are part of the password
  auto two = source.fresh("unused: ", "the new password");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->view(), "second-pass");  // CR of a CRLF line is dropped
  std::string rest;
  std::getline(in, rest);
  EXPECT_EQ(rest, "left over");  // nothing was read ahead
}

TEST(ReadSecretLine, LastLineWithoutNewline) {
  std::istringstream in("no-newline");
  auto s = read_secret_line(in, "the password");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->view(), "no-newline");
}

TEST(ReadSecretLine, MissingLineNamesWhichOne) {
  std::istringstream in("only-one\n");
  SecretSource source(in);
  ASSERT_TRUE(source.current("", "the password"));
  auto second = source.fresh("", "the new password");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message, "the new password (line 2 of standard input) is missing");
}

TEST(ReadSecretLine, RefusesEmptyAndOverlongLines) {
  std::istringstream empty("\nx\n");
  auto e = read_secret_line(empty, "the password");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("empty"), std::string::npos);

  const std::string max(kMaxPasswordBytes, 'a');
  std::istringstream fits(max + "\n");
  auto f = read_secret_line(fits, "the password");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->size(), kMaxPasswordBytes);

  const std::string secret_text = std::string(kMaxPasswordBytes, 'b') + "Z";
  std::istringstream too_long(secret_text + "\n");
  auto t = read_secret_line(too_long, "the password");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("longer than 1024 bytes"), std::string::npos);
  EXPECT_EQ(t.error().message.find("bbbb"), std::string::npos);  // no secret in the error
}

TEST(ReadSecretLine, KeepsArbitraryBytes) {
  std::istringstream in(std::string("p\xc3\xa4ss\"w\\rd\t!\n", 13));
  auto s = read_secret_line(in, "the password");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->view(), std::string_view("p\xc3\xa4ss\"w\\rd\t!", 12));
}

}  // namespace
}  // namespace sekisho::cli
