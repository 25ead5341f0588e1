// Sealing and opening of chunk payloads: zstd, then AES-256-GCM under the recording's data key.
#pragma once

#include <cstdint>
#include <memory>

#include "base/crypto.hpp"
#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho::recorder {

// Nonces under one data key never repeat: a chunk's nonce is its index with a zero prefix, the
// text index (written once, at close) has its own prefix.
enum class NonceDomain : std::uint32_t { kChunk = 0, kTextIndex = 1 };

// AES-256-GCM with one key; one instance per thread (it keeps an EVP context).
class ChunkCipher {
 public:
  static Result<ChunkCipher> create(const Secret& key);
  ChunkCipher(ChunkCipher&&) noexcept;
  ChunkCipher& operator=(ChunkCipher&&) noexcept;
  ~ChunkCipher();
  // Returns ciphertext ‖ tag.
  Result<Bytes> seal(NonceDomain domain, std::uint64_t counter, ByteView plain, ByteView ad);
  // Fails with kCorrupt when the tag does not match (altered bytes or wrong key).
  Result<Bytes> open(NonceDomain domain, std::uint64_t counter, ByteView sealed, ByteView ad);

 private:
  struct State;
  explicit ChunkCipher(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// zstd with a reused context; one instance per thread.
class Compressor {
 public:
  explicit Compressor(int level);
  Compressor(Compressor&&) noexcept;
  ~Compressor();
  Result<Bytes> compress(ByteView plain);
  // Decompresses into exactly `plain_len` bytes; anything else is corruption.
  Result<Bytes> decompress(ByteView compressed, std::size_t plain_len);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace sekisho::recorder
