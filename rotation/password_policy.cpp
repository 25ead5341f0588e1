#include "rotation/password_policy.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace sekisho::rotation {

namespace {

constexpr std::array kAllClasses{CharClass::kLower, CharClass::kUpper, CharClass::kDigit,
                                 CharClass::kSymbol};
// Classes are never named twice, so a policy always has room for one character of each.
static_assert(kMinPasswordLength >= kAllClasses.size());

// A generated password travels as one `user:password` line to chpasswd on standard input, as an
// LDAP password modify value, as an AD unicodePwd (a quoted UTF-16 string), in JSON to the CLI and
// through the operator's clipboard into shells and forms. shadow's chpasswd reads a line with
// fgets, cuts it at the newline and splits user from password at the first ':' (busybox's splits
// the same way); a quote or backslash needs escaping in JSON, in AD's quoted value and in every
// shell, a backquote runs a command in a shell, and whitespace is trimmed or split by forms. So
// the symbols are printable ASCII punctuation without ':' , '"', '\'', '`' and '\\'; no class
// holds whitespace or a control character.
constexpr std::string_view kSymbols = "!#$%&()*+,-./;<=>?@[]^_{|}~";

// The class's characters minus `avoid`.
std::string usable_characters(CharClass cls, const std::string& avoid) {
  std::string out;
  for (char c : class_characters(cls)) {
    if (avoid.find(c) == std::string::npos) out.push_back(c);
  }
  return out;
}

// Uniform indexes drawn from the injected random source, by rejection sampling: a byte at or
// above the largest multiple of n that fits in 256 is thrown away, so that `byte % n` favours no
// index (plain `% n` would make the first 256 % n characters more likely). The buffered bytes
// decide the password, so they are wiped when the stream ends.
class IndexStream {
 public:
  explicit IndexStream(const RandomBytes& random) : random_(random) {}
  IndexStream(const IndexStream&) = delete;
  IndexStream& operator=(const IndexStream&) = delete;
  ~IndexStream() { wipe(buffer_.data(), buffer_.size()); }

  // An index in [0, n); 1 <= n <= 256.
  std::size_t next(std::size_t n) {
    const std::size_t limit = 256 - 256 % n;
    while (true) {
      const std::size_t byte = next_byte();
      if (byte < limit) return byte % n;
    }
  }

 private:
  std::uint8_t next_byte() {
    if (used_ == buffer_.size()) {
      random_(std::span<std::uint8_t>(buffer_));
      used_ = 0;
    }
    const std::uint8_t byte = buffer_[used_];
    buffer_[used_++] = 0;
    return byte;
  }

  const RandomBytes& random_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t used_ = 64;
};

}  // namespace

Result<CharClass> parse_char_class(const std::string& text) {
  for (CharClass cls : kAllClasses) {
    if (text == to_string(cls)) return cls;
  }
  return fail(ErrorCode::kInvalidArgument,
              "unknown character class '" + text.substr(0, 32) + "' (lower, upper, digit, symbol)");
}

const char* to_string(CharClass cls) {
  switch (cls) {
    case CharClass::kLower:
      return "lower";
    case CharClass::kUpper:
      return "upper";
    case CharClass::kDigit:
      return "digit";
    case CharClass::kSymbol:
      return "symbol";
  }
  return "unknown";
}

std::string_view class_characters(CharClass cls) {
  switch (cls) {
    case CharClass::kLower:
      return "abcdefghijklmnopqrstuvwxyz";
    case CharClass::kUpper:
      return "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    case CharClass::kDigit:
      return "0123456789";
    case CharClass::kSymbol:
      return kSymbols;
  }
  return {};
}

Result<void> check_policy(const PasswordPolicy& policy) {
  if (policy.length < kMinPasswordLength || policy.length > kMaxPasswordLength) {
    return fail(ErrorCode::kInvalidArgument,
                "password length " + std::to_string(policy.length) + " is outside " +
                    std::to_string(kMinPasswordLength) + ".." + std::to_string(kMaxPasswordLength));
  }
  if (policy.classes.empty()) {
    return fail(ErrorCode::kInvalidArgument, "the password policy names no character class");
  }
  std::size_t alphabet = 0;
  for (std::size_t i = 0; i < policy.classes.size(); ++i) {
    const CharClass cls = policy.classes[i];
    if (std::count(policy.classes.begin(), policy.classes.begin() + static_cast<long>(i), cls)) {
      return fail(ErrorCode::kInvalidArgument,
                  std::string("character class '") + to_string(cls) + "' is named twice");
    }
    const std::size_t usable = usable_characters(cls, policy.avoid).size();
    if (usable == 0) {
      return fail(ErrorCode::kInvalidArgument,
                  std::string("'avoid' removes every character of class '") + to_string(cls) + "'");
    }
    alphabet += usable;
  }
  const double bits = static_cast<double>(policy.length) * std::log2(static_cast<double>(alphabet));
  if (bits < kMinPasswordBits) {
    return fail(ErrorCode::kInvalidArgument,
                "the password policy gives " + std::to_string(static_cast<int>(bits)) +
                    " bits of randomness, fewer than " +
                    std::to_string(static_cast<int>(kMinPasswordBits)) +
                    " (a longer length or more character classes)");
  }
  return ok();
}

// One character of every class first (so every class is present), the rest from the union of
// the classes, then a Fisher-Yates shuffle with the same unbiased draws, so the guaranteed
// characters are not at fixed places.
Result<Secret> generate_password(const PasswordPolicy& policy, const RandomBytes& random) {
  if (auto checked = check_policy(policy); !checked) return tl::make_unexpected(checked.error());
  std::string alphabet;
  std::vector<std::string> per_class;
  for (CharClass cls : policy.classes) {
    per_class.push_back(usable_characters(cls, policy.avoid));
    alphabet += per_class.back();
  }
  Secret password(policy.length);
  std::uint8_t* out = password.data();
  IndexStream draw(random);
  std::size_t filled = 0;
  for (const std::string& chars : per_class) {
    out[filled++] = static_cast<std::uint8_t>(chars[draw.next(chars.size())]);
  }
  while (filled < policy.length) {
    out[filled++] = static_cast<std::uint8_t>(alphabet[draw.next(alphabet.size())]);
  }
  for (std::size_t i = policy.length - 1; i > 0; --i) {
    std::swap(out[i], out[draw.next(i + 1)]);
  }
  return password;
}

}  // namespace sekisho::rotation
