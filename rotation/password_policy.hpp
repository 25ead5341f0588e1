// Password policy and generation (DESIGN.md "Password rotation"): every generated password comes
// from a CSPRNG, has the policy's length, contains at least one character of every class the
// policy names, and none of the characters it says to avoid. Pure apart from the injected random
// source.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho::rotation {

enum class CharClass { kLower, kUpper, kDigit, kSymbol };

struct PasswordPolicy {
  std::size_t length = 32;
  std::vector<CharClass> classes{CharClass::kLower, CharClass::kUpper, CharClass::kDigit,
                                 CharClass::kSymbol};
  std::string avoid;  // characters never used (a host's shell or a form that mangles them)
};

// Shortest length a policy may set, and the longest.
inline constexpr std::size_t kMinPasswordLength = 16;
inline constexpr std::size_t kMaxPasswordLength = 128;
// The least randomness a policy's passwords may carry: length × log2(alphabet size).
inline constexpr double kMinPasswordBits = 80.0;

// "lower", "upper", "digit", "symbol". kInvalidArgument naming the text otherwise. Pure.
[[nodiscard]] Result<CharClass> parse_char_class(const std::string& text);
// The name parse_char_class reads. Pure.
const char* to_string(CharClass cls);

// The characters of a class, before `avoid`. Symbols are printable ASCII punctuation without
// ':' , quotes, backquote and backslash (see password_policy.cpp for why). Pure.
std::string_view class_characters(CharClass cls);

// Refuses (kInvalidArgument, one line) a length out of [kMinPasswordLength, kMaxPasswordLength],
// no class, a class named twice, a class whose characters `avoid` removes entirely, or an
// alphabet so small that a password carries fewer than kMinPasswordBits bits of randomness (so
// there is always room for one character of every class). Pure; any thread.
[[nodiscard]] Result<void> check_policy(const PasswordPolicy& policy);

// Fills its argument with cryptographically strong random bytes (base/crypto's random_fill in the
// gateway; a seeded sequence in tests).
using RandomBytes = std::function<void(std::span<std::uint8_t>)>;

// A new password under `policy` (check_policy first), drawn without modulo bias. Any thread.
[[nodiscard]] Result<Secret> generate_password(const PasswordPolicy& policy,
                                               const RandomBytes& random);

}  // namespace sekisho::rotation
