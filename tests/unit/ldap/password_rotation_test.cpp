// AD's unicodePwd value: the quoted password as UTF-16LE, from strict UTF-8 only.
#include "ldap/password_rotation.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sekisho::ldap {
namespace {

std::vector<std::uint8_t> bytes_of(const Secret& s) { return {s.data(), s.data() + s.size()}; }

TEST(AdUnicodePwdTest, AsciiIsQuotedUtf16Le) {
  auto v = ad_unicode_pwd(Secret::copy_of(std::string_view("Ab1")));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(bytes_of(*v), (std::vector<std::uint8_t>{'"', 0, 'A', 0, 'b', 0, '1', 0, '"', 0}));
}

TEST(AdUnicodePwdTest, MultiByteAndAstralCharactersBecomeUtf16) {
  // é (U+00E9), € (U+20AC), 😀 (U+1F600 → surrogates D83D DE00).
  auto v =
      ad_unicode_pwd(Secret::copy_of(std::string_view("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(bytes_of(*v), (std::vector<std::uint8_t>{'"', 0, 0xe9, 0x00, 0xac, 0x20, 0x3d, 0xd8,
                                                     0x00, 0xde, '"', 0}));
}

TEST(AdUnicodePwdTest, InvalidUtf8IsRefused) {
  for (const std::string& bad :
       {std::string("\xc3"), std::string("\xc0\xaf"),  // truncated, overlong
        std::string("\xed\xa0\x80"),                   // a surrogate
        std::string("\xf4\x90\x80\x80"),               // past U+10FFFF
        std::string("\xff"), std::string("a\x80")}) {
    auto v = ad_unicode_pwd(Secret::copy_of(std::string_view(bad)));
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(v.error().message.find(bad), std::string::npos);  // the bytes are not echoed
  }
}

TEST(AdUnicodePwdTest, EmptyPasswordIsJustTheQuotes) {
  auto v = ad_unicode_pwd(Secret());
  ASSERT_TRUE(v);
  EXPECT_EQ(bytes_of(*v), (std::vector<std::uint8_t>{'"', 0, '"', 0}));
}

}  // namespace
}  // namespace sekisho::ldap
