// The two files written beside a recording at close: the seek index (time → chunk offset, in the
// clear: it holds no session content) and the text index (session content: zstd + AES-256-GCM
// under the recording's data key). Both name the recording's header hash, so an index copied
// next to another recording is ignored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "base/crypto.hpp"
#include "base/result.hpp"
#include "recorder/chunk_crypto.hpp"
#include "recorder/file_io.hpp"
#include "recorder/text_index.hpp"

namespace sekisho::recorder {

struct SeekEntry {
  std::uint64_t offset = 0;  // of the chunk's frame header in the .skr file
  std::int64_t first_us = 0;
  std::int64_t last_us = 0;
};

struct SeekIndex {
  std::uint64_t file_size = 0;  // of the .skr the index describes
  std::optional<std::uint64_t> closing_offset;
  std::vector<SeekEntry> chunks;
};

Result<void> write_seek_index(const std::filesystem::path& path, const Digest& header_hash,
                              const SeekIndex& index);
// Returns nullopt (not an error) when the file is missing, belongs to another recording, or does
// not match `file_size`: the caller then rebuilds the index from the chunk frames.
std::optional<SeekIndex> read_seek_index(const std::filesystem::path& path,
                                         const Digest& header_hash, std::uint64_t file_size);

// Streams the text index to "<path>.tmp" in sealed blocks while the recording is written, and
// renames it into place at finish(): a crashed writer leaves only the .tmp, which readers ignore.
// Block i is sealed with nonce (text index, i) and its number in the associated data, so blocks
// cannot be dropped, repeated or reordered; an empty end block says how many came before.
// Text gathered before a block of the text index is sealed (the writer and write_indexes()).
inline constexpr std::size_t kTextBlockBytes = 256 * 1024;

class TextIndexWriter {
 public:
  static Result<TextIndexWriter> create(const std::filesystem::path& path,
                                        const Digest& header_hash);
  TextIndexWriter(TextIndexWriter&&) noexcept = default;
  TextIndexWriter& operator=(TextIndexWriter&&) noexcept = default;
  Result<void> add_block(ByteView plain, ChunkCipher& cipher, Compressor& compressor);
  Result<void> finish(ChunkCipher& cipher);

 private:
  TextIndexWriter() = default;
  Result<void> write_block(ByteView packed, std::uint32_t plain_len, ChunkCipher& cipher);
  std::filesystem::path path_;
  Digest header_hash_{};
  UniqueFd fd_;
  std::uint64_t offset_ = 0;
  std::uint64_t blocks_ = 0;
};

// nullopt when missing or for another recording; an error when present but altered.
Result<std::optional<TextIndex>> read_text_index(const std::filesystem::path& path,
                                                 const Digest& header_hash, ChunkCipher& cipher,
                                                 Compressor& compressor);

}  // namespace sekisho::recorder
