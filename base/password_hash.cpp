#include "base/password_hash.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <cstring>
#include <memory>

#include "base/crypto.hpp"

namespace sekisho {

namespace {

// crypt_data is 32 KiB: keep it off the stack and wipe it (it holds key material).
struct CryptData {
  crypt_data data{};
  ~CryptData() { wipe(&data, sizeof data); }
};

}  // namespace

Result<std::string> hash_password(const Secret& password) {
  if (password.empty()) return fail(ErrorCode::kInvalidArgument, "empty password");
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$y$", 0, nullptr, 0, salt, sizeof salt) == nullptr) {
    return fail(ErrorCode::kInternal, "cannot generate a password salt");
  }
  // crypt_r needs a NUL-terminated password.
  Secret z(password.size() + 1);
  std::memcpy(z.data(), password.data(), password.size());
  auto cd = std::make_unique<CryptData>();
  const char* out = crypt_r(reinterpret_cast<const char*>(z.data()), salt, &cd->data);
  if (out == nullptr || out[0] == '*') return fail(ErrorCode::kInternal, "password hashing failed");
  return std::string(out);
}

bool password_matches(const Secret& password, const std::string& hash) {
  if (password.empty() || hash.empty() || hash[0] == '*' || hash[0] == '!') return false;
  Secret z(password.size() + 1);
  std::memcpy(z.data(), password.data(), password.size());
  auto cd = std::make_unique<CryptData>();
  const char* out = crypt_r(reinterpret_cast<const char*>(z.data()), hash.c_str(), &cd->data);
  if (out == nullptr || out[0] == '*') return false;
  const std::size_t n = std::strlen(out);
  return n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
}

Secret generate_password(std::size_t length) {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  constexpr unsigned kSize = sizeof kAlphabet - 1;
  constexpr unsigned kLimit = 256 - 256 % kSize;  // reject bytes above this to avoid bias
  Secret out(length);
  std::size_t filled = 0;
  std::uint8_t pool[64];
  while (filled < length) {
    random_fill(pool);
    for (std::uint8_t b : pool) {
      if (b >= kLimit) continue;
      out.data()[filled++] = static_cast<std::uint8_t>(kAlphabet[b % kSize]);
      if (filled == length) break;
    }
  }
  wipe(pool, sizeof pool);
  return out;
}

}  // namespace sekisho
