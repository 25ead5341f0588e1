// Thin, typed wrappers over OpenSSL 3's EVP API: randomness, hashes, HMAC, HKDF, Ed25519.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/c_handle.hpp"
#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho {

using Bytes = std::vector<std::uint8_t>;
using Digest = std::array<std::uint8_t, 32>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Cryptographically secure random bytes (OpenSSL's DRBG); aborts the process if the DRBG fails,
// because no caller can do anything safe without randomness.
Secret random_secret(std::size_t size);
void random_fill(std::span<std::uint8_t> out);

std::string hex_encode(ByteView bytes);
// Decodes lowercase or uppercase hex into a Secret; refuses odd lengths and non-hex characters.
Result<Secret> hex_decode_secret(std::string_view hex);

// Base64url without padding (RFC 4648 §5): tokens in URLs and headers.
std::string base64url_encode(ByteView bytes);

Digest sha256(ByteView data);
// First 8 hex characters of SHA-256: how logs refer to a secret without showing it.
std::string fingerprint8(ByteView data);

// HMAC-SHA256 under one key, reusable for many messages without re-deriving the key pads.
// One instance per thread.
class HmacSha256 {
 public:
  static Result<HmacSha256> create(const Secret& key);
  // Computes HMAC(key, parts[0] ‖ parts[1] ‖ ...).
  Digest mac(std::initializer_list<ByteView> parts);

 private:
  using MacCtx = CHandle<EVP_MAC_CTX, EVP_MAC_CTX_free>;
  explicit HmacSha256(MacCtx ctx) : ctx_(std::move(ctx)) {}
  MacCtx ctx_;
};

// HKDF-SHA256(key, salt = none, info) → `size` bytes. Used to derive purpose keys from the
// master key so that one key never serves two purposes.
Result<Secret> hkdf_sha256(const Secret& key, std::string_view info, std::size_t size);

// Ed25519 key pair used to sign audit checkpoints and recordings.
class SigningKey {
 public:
  static Result<SigningKey> generate();
  // Reads a PKCS#8 PEM private key; refuses a file readable by group or others.
  static Result<SigningKey> load(const std::filesystem::path& path);
  // Writes the private key (0600) and the public key beside it (0644), both PEM.
  Result<void> save(const std::filesystem::path& private_path,
                    const std::filesystem::path& public_path) const;
  Result<Bytes> sign(ByteView message) const;
  std::string public_pem() const;

 private:
  using Key = CHandle<EVP_PKEY, EVP_PKEY_free>;
  explicit SigningKey(Key key) : key_(std::move(key)) {}
  Key key_;
};

// Verifies an Ed25519 signature with a PEM public key. Result is false on a bad signature and an
// Error only when the key itself cannot be read.
Result<bool> ed25519_verify(std::string_view public_pem, ByteView message, ByteView signature);

}  // namespace sekisho
