#include "rotation/password_policy.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "base/crypto.hpp"

namespace sekisho::rotation {
namespace {

// A seeded stand-in for the CSPRNG: the same passwords on every run.
RandomBytes seeded(std::uint64_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed);
  return [engine](std::span<std::uint8_t> out) {
    for (auto& byte : out) byte = static_cast<std::uint8_t>((*engine)() >> 56);
  };
}

std::string text_of(const Secret& secret) { return std::string(secret.view()); }

std::string alphabet_of(const PasswordPolicy& policy) {
  std::string out;
  for (CharClass cls : policy.classes) {
    for (char c : class_characters(cls)) {
      if (policy.avoid.find(c) == std::string::npos) out.push_back(c);
    }
  }
  return out;
}

std::string refusal(const PasswordPolicy& policy) {
  auto checked = check_policy(policy);
  if (checked) return "accepted";
  EXPECT_EQ(checked.error().code, ErrorCode::kInvalidArgument);
  return checked.error().message;
}

TEST(CharClassTest, ParsesTheFourNamesAndRefusesOthers) {
  for (CharClass cls :
       {CharClass::kLower, CharClass::kUpper, CharClass::kDigit, CharClass::kSymbol}) {
    auto parsed = parse_char_class(to_string(cls));
    ASSERT_TRUE(parsed) << to_string(cls);
    EXPECT_EQ(*parsed, cls);
  }
  auto bad = parse_char_class("punct");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message, "unknown character class 'punct' (lower, upper, digit, symbol)");
}

// Symbols reach chpasswd as `user:password`, JSON, AD's quoted unicodePwd and shells.
TEST(CharClassTest, NoClassHoldsASeparatorQuoteEscapeOrWhitespace) {
  for (CharClass cls :
       {CharClass::kLower, CharClass::kUpper, CharClass::kDigit, CharClass::kSymbol}) {
    for (char c : class_characters(cls)) {
      EXPECT_TRUE(c > ' ' && c < 0x7f) << to_string(cls) << " holds byte " << int(c);
      EXPECT_EQ(std::string(":\"'`\\").find(c), std::string::npos)
          << to_string(cls) << " holds " << c;
    }
  }
  EXPECT_EQ(class_characters(CharClass::kSymbol).size(), 27u);
}

TEST(CheckPolicyTest, AcceptsTheDefault) { EXPECT_EQ(refusal(PasswordPolicy{}), "accepted"); }

TEST(CheckPolicyTest, RefusesALengthOutOfRange) {
  PasswordPolicy policy;
  policy.length = 15;
  EXPECT_EQ(refusal(policy), "password length 15 is outside 16..128");
  policy.length = 129;
  EXPECT_EQ(refusal(policy), "password length 129 is outside 16..128");
  policy.length = 16;
  EXPECT_EQ(refusal(policy), "accepted");
  policy.length = 128;
  EXPECT_EQ(refusal(policy), "accepted");
}

TEST(CheckPolicyTest, RefusesNoClassAndAClassNamedTwice) {
  PasswordPolicy policy;
  policy.classes.clear();
  EXPECT_EQ(refusal(policy), "the password policy names no character class");
  policy.classes = {CharClass::kLower, CharClass::kDigit, CharClass::kLower};
  EXPECT_EQ(refusal(policy), "character class 'lower' is named twice");
}

TEST(CheckPolicyTest, RefusesAnAvoidListThatEmptiesAClass) {
  PasswordPolicy policy;
  policy.avoid = "0123456789";
  EXPECT_EQ(refusal(policy), "'avoid' removes every character of class 'digit'");
  policy.avoid = "012345678";
  EXPECT_EQ(refusal(policy), "accepted");
}

TEST(CheckPolicyTest, RefusesAPolicyWithTooLittleRandomness) {
  PasswordPolicy policy;
  policy.classes = {CharClass::kDigit};
  policy.length = 20;  // 20 × log2(10) ≈ 66 bits
  EXPECT_EQ(refusal(policy),
            "the password policy gives 66 bits of randomness, fewer than 80 (a longer length or "
            "more character classes)");
  policy.length = 25;  // ≈ 83 bits
  EXPECT_EQ(refusal(policy), "accepted");
}

TEST(GeneratePasswordTest, RefusesABadPolicyWithTheCheckersMessage) {
  PasswordPolicy policy;
  policy.length = 8;
  auto generated = generate_password(policy, seeded(1));
  ASSERT_FALSE(generated);
  EXPECT_EQ(generated.error().message, "password length 8 is outside 16..128");
}

TEST(GeneratePasswordTest, HasTheLengthEveryClassAndNoAvoidedCharacter) {
  PasswordPolicy policy;
  policy.length = 16;
  policy.avoid = "O0Il1|";
  const std::string alphabet = alphabet_of(policy);
  RandomBytes random = seeded(7);
  for (int i = 0; i < 2000; ++i) {
    auto password = generate_password(policy, random);
    ASSERT_TRUE(password);
    const std::string text = text_of(*password);
    ASSERT_EQ(text.size(), 16u);
    for (CharClass cls : policy.classes) {
      EXPECT_NE(text.find_first_of(class_characters(cls)), std::string::npos)
          << "a password lacks class " << to_string(cls);
    }
    EXPECT_EQ(text.find_first_of(policy.avoid), std::string::npos) << "an avoided character";
    EXPECT_EQ(text.find_first_not_of(alphabet), std::string::npos) << "a foreign character";
  }
}

TEST(GeneratePasswordTest, DrawsEveryCharacterOfTheAlphabetEvenly) {
  PasswordPolicy policy;
  policy.avoid = "\"";  // not in any class: changes nothing
  const std::string alphabet = alphabet_of(policy);
  std::map<char, int> seen;
  RandomBytes random = seeded(42);
  for (int i = 0; i < 4000; ++i) {
    for (char c : text_of(*generate_password(policy, random))) ++seen[c];
  }
  EXPECT_EQ(seen.size(), alphabet.size());
  // Within a class every character is equally likely: each count stays within 15% of its
  // class's mean (a seeded source, so the counts are the same on every run).
  for (CharClass cls : policy.classes) {
    const std::string_view chars = class_characters(cls);
    double mean = 0;
    for (char c : chars) mean += seen[c];
    mean /= static_cast<double>(chars.size());
    for (char c : chars) {
      EXPECT_NEAR(seen[c], mean, mean * 0.15) << "character " << c << " of " << to_string(cls);
    }
  }
}

// The character guaranteed for each class is shuffled in: every class shows up at every place.
TEST(GeneratePasswordTest, GuaranteedCharactersAreNotAtFixedPlaces) {
  PasswordPolicy policy;
  policy.length = 16;
  std::map<CharClass, std::set<std::size_t>> places;
  RandomBytes random = seeded(3);
  for (int i = 0; i < 3000; ++i) {
    const std::string text = text_of(*generate_password(policy, random));
    for (std::size_t at = 0; at < text.size(); ++at) {
      for (CharClass cls : policy.classes) {
        if (class_characters(cls).find(text[at]) != std::string_view::npos) places[cls].insert(at);
      }
    }
  }
  for (CharClass cls : policy.classes) EXPECT_EQ(places[cls].size(), 16u) << to_string(cls);
}

// Bytes 250..255 would make digits 0..5 likelier under a plain `% 10`: they are thrown away.
TEST(GeneratePasswordTest, ThrowsAwayBytesThatWouldBiasTheDraw) {
  PasswordPolicy policy;
  policy.classes = {CharClass::kDigit};
  policy.length = 25;
  RandomBytes biased_then_three = [](std::span<std::uint8_t> out) {
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = i < 6 ? static_cast<std::uint8_t>(250 + i) : 3;
    }
  };
  auto password = generate_password(policy, biased_then_three);
  ASSERT_TRUE(password);
  EXPECT_TRUE(text_of(*password) == std::string(25, '3')) << "a rejected byte was used";
}

TEST(GeneratePasswordTest, WorksWithTheGatewaysRandomSource) {
  const RandomBytes random = [](std::span<std::uint8_t> out) { random_fill(out); };
  auto first = generate_password(PasswordPolicy{}, random);
  auto second = generate_password(PasswordPolicy{}, random);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->size(), 32u);
  EXPECT_FALSE(first->equals(*second));
}

}  // namespace
}  // namespace sekisho::rotation
