#include "ldap/totp.hpp"

#include <liboath/oath.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <mutex>

#include "base/crypto.hpp"

namespace sekisho::ldap {

namespace {

constexpr std::size_t kSecretBytes = 20;
constexpr unsigned kDigits = 6;
constexpr unsigned kStepSeconds = 30;
constexpr int kMaxWindow = 10;

// liboath keeps no state after oath_init() besides its own initialisation flag; once per process.
bool oath_ready() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = oath_init() == OATH_OK; });
  return ready;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

}  // namespace

Secret generate_totp_secret() { return random_secret(kSecretBytes); }

std::string totp_base32(const Secret& secret) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  out.reserve((secret.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const std::uint8_t byte : secret.bytes()) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 0x1f]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 0x1f]);
  buffer = 0;
  return out;
}

std::string totp_uri(const Secret& secret, const std::string& account, const std::string& issuer) {
  const std::string enc_issuer = percent_encode(issuer);
  std::string uri = "otpauth://totp/" + enc_issuer + ":" + percent_encode(account);
  uri += "?secret=" + totp_base32(secret);
  uri += "&issuer=" + enc_issuer;
  uri += "&algorithm=SHA1&digits=6&period=30";
  return uri;
}

bool totp_verify(const Secret& secret, std::string_view code, TimePoint now, int window) {
  if (secret.empty() || window < 0 || window > kMaxWindow || code.size() != kDigits) return false;
  for (const char c : code) {
    if (c < '0' || c > '9') return false;
  }
  if (!oath_ready()) return false;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  unsigned diff_all = 1;  // stays non-zero until one candidate matches
  for (int step = -window; step <= window; ++step) {
    std::array<char, kDigits + 1> expected{};
    const std::time_t at = t + static_cast<std::time_t>(step) * kStepSeconds;
    const int rc =
        oath_totp_generate(reinterpret_cast<const char*>(secret.data()), secret.size(), at,
                           kStepSeconds, OATH_TOTP_DEFAULT_START_TIME, kDigits, expected.data());
    unsigned diff = rc == OATH_OK ? 0u : 1u;
    for (std::size_t i = 0; i < kDigits; ++i) {
      diff |= static_cast<unsigned>(static_cast<unsigned char>(expected[i]) ^
                                    static_cast<unsigned char>(code[i]));
    }
    // diff_all becomes 0 as soon as one diff is 0, without a data-dependent branch.
    diff_all &= static_cast<unsigned>(diff != 0);
    wipe(expected.data(), expected.size());
  }
  return diff_all == 0;
}

}  // namespace sekisho::ldap
