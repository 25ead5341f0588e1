#include "recorder/chunk_crypto.hpp"

#include <openssl/err.h>
#include <zstd.h>

#include <cstring>

#include "base/c_handle.hpp"
#include "recorder/recording.hpp"

namespace sekisho::recorder {

namespace {

using CipherCtx = CHandle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
constexpr std::size_t kTag = 16;

std::array<std::uint8_t, 12> nonce(NonceDomain domain, std::uint64_t counter) {
  std::array<std::uint8_t, 12> n{};
  const auto d = static_cast<std::uint32_t>(domain);
  for (int i = 0; i < 4; ++i)
    n[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(d >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) {
    n[static_cast<std::size_t>(4 + i)] = static_cast<std::uint8_t>(counter >> (56 - 8 * i));
  }
  return n;
}

// One AES-256-GCM operation with an explicit nonce; shared by chunks and key wrapping.
Result<Bytes> gcm(EVP_CIPHER_CTX* ctx, bool encrypt, const std::uint8_t* key, ByteView iv,
                  ByteView in, ByteView ad) {
  if (!encrypt && in.size() < kTag) return fail(ErrorCode::kCorrupt, "sealed data too short");
  const std::size_t body = encrypt ? in.size() : in.size() - kTag;
  Bytes out(body + (encrypt ? kTag : 0));
  int len = 0;
  const int init = encrypt ? EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key, iv.data())
                           : EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key, iv.data());
  bool good = init == 1;
  auto update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate;
  if (good && !ad.empty()) {
    good = update(ctx, nullptr, &len, ad.data(), static_cast<int>(ad.size())) == 1;
  }
  if (good && body > 0) {
    good = update(ctx, out.data(), &len, in.data(), static_cast<int>(body)) == 1;
  }
  if (good && encrypt) {
    good = EVP_EncryptFinal_ex(ctx, out.data() + body, &len) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTag, out.data() + body) == 1;
  } else if (good) {
    Bytes tag(in.begin() + static_cast<std::ptrdiff_t>(body), in.end());
    good = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) == 1 &&
           EVP_DecryptFinal_ex(ctx, out.data() + body, &len) == 1;
    if (!good) {
      ERR_clear_error();
      return fail(ErrorCode::kCorrupt, "authentication failed (altered data or wrong key)");
    }
  }
  if (!good) {
    ERR_clear_error();
    return fail(ErrorCode::kInternal, "AES-256-GCM failed");
  }
  return out;
}

constexpr std::string_view kWrapLabel = "sekisho recording data key v1:";

}  // namespace

struct ChunkCipher::State {
  Secret key;
  CipherCtx ctx;
};

ChunkCipher::ChunkCipher(std::unique_ptr<State> s) : s_(std::move(s)) {}
ChunkCipher::ChunkCipher(ChunkCipher&&) noexcept = default;
ChunkCipher& ChunkCipher::operator=(ChunkCipher&&) noexcept = default;
ChunkCipher::~ChunkCipher() = default;

Result<ChunkCipher> ChunkCipher::create(const Secret& key) {
  if (key.size() != 32) return fail(ErrorCode::kInvalidArgument, "data key must be 32 bytes");
  auto s = std::make_unique<State>();
  s->key = Secret::copy_of(key.bytes());
  s->ctx.reset(EVP_CIPHER_CTX_new());
  if (!s->ctx) return fail(ErrorCode::kInternal, "EVP_CIPHER_CTX_new failed");
  return ChunkCipher(std::move(s));
}

Result<Bytes> ChunkCipher::seal(NonceDomain domain, std::uint64_t counter, ByteView plain,
                                ByteView ad) {
  const auto iv = nonce(domain, counter);
  return gcm(s_->ctx.get(), true, s_->key.data(), iv, plain, ad);
}

Result<Bytes> ChunkCipher::open(NonceDomain domain, std::uint64_t counter, ByteView sealed,
                                ByteView ad) {
  const auto iv = nonce(domain, counter);
  return gcm(s_->ctx.get(), false, s_->key.data(), iv, sealed, ad);
}

struct Compressor::State {
  int level = 3;
  CHandle<ZSTD_CCtx, ZSTD_freeCCtx> cctx;
  CHandle<ZSTD_DCtx, ZSTD_freeDCtx> dctx;
};

Compressor::Compressor(int level) : s_(std::make_unique<State>()) { s_->level = level; }
Compressor::Compressor(Compressor&&) noexcept = default;
Compressor::~Compressor() = default;

Result<Bytes> Compressor::compress(ByteView plain) {
  if (!s_->cctx) s_->cctx.reset(ZSTD_createCCtx());
  Bytes out(ZSTD_compressBound(plain.size()));
  const std::size_t n = ZSTD_compressCCtx(s_->cctx.get(), out.data(), out.size(), plain.data(),
                                          plain.size(), s_->level);
  if (ZSTD_isError(n)) {
    return fail(ErrorCode::kInternal, std::string("zstd: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

Result<Bytes> Compressor::decompress(ByteView compressed, std::size_t plain_len) {
  if (!s_->dctx) s_->dctx.reset(ZSTD_createDCtx());
  Bytes out(plain_len);
  const std::size_t n = ZSTD_decompressDCtx(s_->dctx.get(), out.data(), out.size(),
                                            compressed.data(), compressed.size());
  if (ZSTD_isError(n) || n != plain_len) {
    return fail(ErrorCode::kCorrupt, "compressed data does not decode to its stated length");
  }
  return out;
}

Result<DataKey> new_data_key(const Secret& recording_key, std::string_view session_id) {
  if (recording_key.size() != 32) {
    return fail(ErrorCode::kInvalidArgument, "recording key must be 32 bytes");
  }
  DataKey k;
  k.key = random_secret(32);
  std::array<std::uint8_t, 12> iv{};
  random_fill(iv);
  Bytes ad(kWrapLabel.begin(), kWrapLabel.end());
  ad.insert(ad.end(), session_id.begin(), session_id.end());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  auto sealed = gcm(ctx.get(), true, recording_key.data(), iv, k.key.bytes(), ad);
  if (!sealed) return tl::make_unexpected(sealed.error());
  k.wrapped.assign(iv.begin(), iv.end());
  k.wrapped.insert(k.wrapped.end(), sealed->begin(), sealed->end());
  return k;
}

Result<Secret> unwrap_data_key(const Secret& recording_key, std::string_view session_id,
                               ByteView wrapped) {
  if (recording_key.size() != 32) {
    return fail(ErrorCode::kInvalidArgument, "recording key must be 32 bytes");
  }
  if (wrapped.size() != 12 + 32 + kTag) {
    return fail(ErrorCode::kCorrupt, "wrapped data key has the wrong length");
  }
  Bytes ad(kWrapLabel.begin(), kWrapLabel.end());
  ad.insert(ad.end(), session_id.begin(), session_id.end());
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  auto plain =
      gcm(ctx.get(), false, recording_key.data(), wrapped.first(12), wrapped.subspan(12), ad);
  if (!plain) {
    return fail(ErrorCode::kUnauthenticated,
                "cannot unwrap the recording's data key (wrong recording key or another session)");
  }
  Secret key = Secret::copy_of(*plain);
  wipe(plain->data(), plain->size());
  return key;
}

}  // namespace sekisho::recorder
