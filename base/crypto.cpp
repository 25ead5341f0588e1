#include "base/crypto.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "base/files.hpp"

namespace sekisho {

namespace {

using Bio = CHandle<BIO, BIO_free_all>;

std::string openssl_error(std::string_view what) {
  const unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return std::string(what) + ": " + buf;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void random_fill(std::span<std::uint8_t> out) {
  if (out.empty()) return;
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fputs("sekisho: the random generator failed; stopping\n", stderr);
    std::abort();
  }
}

Secret random_secret(std::size_t size) {
  Secret s(size);
  random_fill({s.data(), s.size()});
  return s;
}

std::string hex_encode(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

Result<Secret> hex_decode_secret(std::string_view hex) {
  if (hex.size() % 2 != 0) return fail(ErrorCode::kInvalidArgument, "odd number of hex digits");
  Secret out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail(ErrorCode::kInvalidArgument, "not a hex digit");
    out.data()[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string base64url_encode(ByteView bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = unsigned(bytes[i]) << 16 | unsigned(bytes[i + 1]) << 8 | bytes[i + 2];
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = unsigned(bytes[i]) << 16;
    for (int shift : {18, 12}) out.push_back(kAlphabet[(v >> shift) & 63]);
  } else if (i + 2 == bytes.size()) {
    const unsigned v = unsigned(bytes[i]) << 16 | unsigned(bytes[i + 1]) << 8;
    for (int shift : {18, 12, 6}) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  return out;
}

Digest sha256(ByteView data) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

std::string fingerprint8(ByteView data) {
  const Digest d = sha256(data);
  return hex_encode(ByteView(d.data(), 4));
}

Result<HmacSha256> HmacSha256::create(const Secret& key) {
  CHandle<EVP_MAC, EVP_MAC_free> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return fail(ErrorCode::kInternal, openssl_error("HMAC unavailable"));
  MacCtx ctx(EVP_MAC_CTX_new(mac.get()));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1) {
    return fail(ErrorCode::kInternal, openssl_error("HMAC init"));
  }
  return HmacSha256(std::move(ctx));
}

Digest HmacSha256::mac(std::initializer_list<ByteView> parts) {
  // Re-initialising with a null key keeps the key schedule: no allocation per message.
  EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr);
  for (const ByteView& p : parts) EVP_MAC_update(ctx_.get(), p.data(), p.size());
  Digest out{};
  std::size_t len = 0;
  EVP_MAC_final(ctx_.get(), out.data(), &len, out.size());
  return out;
}

Result<Secret> hkdf_sha256(const Secret& key, std::string_view info, std::size_t size) {
  CHandle<EVP_KDF, EVP_KDF_free> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return fail(ErrorCode::kInternal, openssl_error("HKDF unavailable"));
  CHandle<EVP_KDF_CTX, EVP_KDF_CTX_free> ctx(EVP_KDF_CTX_new(kdf.get()));
  char digest[] = "SHA256";
  std::string info_copy(info);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(key.data()),
                                        key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_copy.data(), info_copy.size()),
      OSSL_PARAM_END};
  Secret out(size);
  if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return fail(ErrorCode::kInternal, openssl_error("HKDF derive"));
  }
  return out;
}

Result<SigningKey> SigningKey::generate() {
  Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return fail(ErrorCode::kInternal, openssl_error("Ed25519 key generation"));
  return SigningKey(std::move(key));
}

Result<SigningKey> SigningKey::load(const std::filesystem::path& path) {
  auto pem = read_private_file(path, 16 * 1024);
  if (!pem) return tl::make_unexpected(pem.error());
  Bio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) {
    ERR_clear_error();
    return fail(ErrorCode::kCorrupt, "signing key " + path.string() + " is not an Ed25519 PEM key");
  }
  return SigningKey(std::move(key));
}

Result<void> SigningKey::save(const std::filesystem::path& private_path,
                              const std::filesystem::path& public_path) const {
  Bio bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail(ErrorCode::kInternal, openssl_error("writing signing key"));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  const Secret pem = Secret::copy_of(std::string_view(data, static_cast<std::size_t>(len)));
  if (auto r = write_file_atomic(private_path, pem.bytes(), 0600); !r) return r;
  const std::string pub = public_pem();
  return write_file_atomic(public_path, as_bytes(pub), 0644);
}

Result<Bytes> SigningKey::sign(ByteView message) const {
  CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
  Bytes sig(64);
  std::size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1) {
    return fail(ErrorCode::kInternal, openssl_error("Ed25519 sign"));
  }
  sig.resize(len);
  return sig;
}

std::string SigningKey::public_pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

Result<bool> ed25519_verify(std::string_view public_pem, ByteView message, ByteView signature) {
  Bio bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())));
  CHandle<EVP_PKEY, EVP_PKEY_free> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) {
    ERR_clear_error();
    return fail(ErrorCode::kInvalidArgument, "not an Ed25519 PEM public key");
  }
  CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return fail(ErrorCode::kInternal, openssl_error("Ed25519 verify init"));
  }
  const int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                                  message.size());
  ERR_clear_error();
  return rc == 1;
}

}  // namespace sekisho
