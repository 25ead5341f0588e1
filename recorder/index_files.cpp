#include "recorder/index_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

#include "base/files.hpp"
#include "recorder/file_io.hpp"
#include "recorder/format.hpp"

namespace sekisho::recorder {

namespace {

constexpr std::string_view kSeekMagic = "SKRSEEK1";
constexpr std::string_view kTextMagic = "SKRTEXT1";
constexpr std::size_t kSeekFixed = 8 + 32 + 8 + 8 + 8;
constexpr std::size_t kSeekEntryBytes = 24;
constexpr std::size_t kMaxSeekFile = 512 * 1024 * 1024;
constexpr std::size_t kMaxTextBlock = 64 * 1024 * 1024;
constexpr std::size_t kMaxTextFile = (1u << 30) + 4096;
constexpr std::uint64_t kNoClosing = ~0ull;

bool starts_with(ByteView data, std::string_view magic, const Digest& hash) {
  return data.size() >= magic.size() + hash.size() &&
         std::memcmp(data.data(), magic.data(), magic.size()) == 0 &&
         std::memcmp(data.data() + magic.size(), hash.data(), hash.size()) == 0;
}

}  // namespace

Result<void> write_seek_index(const std::filesystem::path& path, const Digest& header_hash,
                              const SeekIndex& index) {
  Bytes out(kSeekMagic.begin(), kSeekMagic.end());
  out.insert(out.end(), header_hash.begin(), header_hash.end());
  format::put_u64(out, index.file_size);
  format::put_u64(out, index.closing_offset.value_or(kNoClosing));
  format::put_u64(out, index.chunks.size());
  for (const auto& e : index.chunks) {
    format::put_u64(out, e.offset);
    format::put_u64(out, static_cast<std::uint64_t>(e.first_us));
    format::put_u64(out, static_cast<std::uint64_t>(e.last_us));
  }
  return write_file_atomic(path, out, 0600);
}

std::optional<SeekIndex> read_seek_index(const std::filesystem::path& path,
                                         const Digest& header_hash, std::uint64_t file_size) {
  auto text = read_file(path, kMaxSeekFile);
  if (!text) return std::nullopt;
  const ByteView data = as_bytes(*text);
  if (!starts_with(data, kSeekMagic, header_hash) || data.size() < kSeekFixed) return std::nullopt;
  format::Cursor c(data.subspan(kSeekMagic.size() + header_hash.size()));
  SeekIndex idx;
  std::uint64_t closing = 0, count = 0;
  c.u64(idx.file_size);
  c.u64(closing);
  c.u64(count);
  if (idx.file_size != file_size || count > c.remaining() / kSeekEntryBytes ||
      c.remaining() != count * kSeekEntryBytes) {
    return std::nullopt;
  }
  if (closing != kNoClosing) idx.closing_offset = closing;
  const std::uint64_t end = idx.closing_offset.value_or(file_size);
  if (end > file_size) return std::nullopt;
  idx.chunks.resize(static_cast<std::size_t>(count));
  std::uint64_t prev_offset = 0;
  std::int64_t prev_last = 0;
  for (auto& e : idx.chunks) {
    c.u64(e.offset);
    c.i64(e.first_us);
    c.i64(e.last_us);
    // Offsets strictly increase inside the file and times never go back: anything else is not an
    // index this writer made, and the reader falls back to the frames.
    if (e.offset <= prev_offset || e.offset + format::kFrameHeaderBytes > end ||
        e.first_us < prev_last || e.last_us < e.first_us) {
      return std::nullopt;
    }
    prev_offset = e.offset;
    prev_last = e.last_us;
  }
  return idx;
}

namespace {

Bytes block_ad(const Digest& header_hash, std::uint64_t block, std::uint32_t plain_len) {
  Bytes ad(kTextMagic.begin(), kTextMagic.end());
  ad.insert(ad.end(), header_hash.begin(), header_hash.end());
  format::put_u64(ad, block);
  format::put_u32(ad, plain_len);
  return ad;
}

}  // namespace

Result<TextIndexWriter> TextIndexWriter::create(const std::filesystem::path& path,
                                                const Digest& header_hash) {
  TextIndexWriter w;
  w.path_ = path;
  w.header_hash_ = header_hash;
  const std::string tmp = path.string() + ".tmp";
  w.fd_ = UniqueFd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!w.fd_) return fail(ErrorCode::kIo, "creating " + tmp + ": " + errno_text(errno));
  Bytes head(kTextMagic.begin(), kTextMagic.end());
  head.insert(head.end(), header_hash.begin(), header_hash.end());
  if (auto r = write_all_at(w.fd_.get(), head, 0); !r) {
    return fail(ErrorCode::kIo, "writing " + tmp + ": " + r.error().message);
  }
  w.offset_ = head.size();
  return w;
}

Result<void> TextIndexWriter::write_block(ByteView packed, std::uint32_t plain_len,
                                          ChunkCipher& cipher) {
  auto sealed = cipher.seal(NonceDomain::kTextIndex, blocks_, packed,
                            block_ad(header_hash_, blocks_, plain_len));
  if (!sealed) return tl::make_unexpected(sealed.error());
  Bytes out;
  format::put_u32(out, plain_len);
  format::put_u32(out, static_cast<std::uint32_t>(sealed->size()));
  out.insert(out.end(), sealed->begin(), sealed->end());
  if (auto r = write_all_at(fd_.get(), out, offset_); !r) {
    return fail(ErrorCode::kIo, "writing the text index: " + r.error().message);
  }
  offset_ += out.size();
  ++blocks_;
  return ok();
}

Result<void> TextIndexWriter::add_block(ByteView plain, ChunkCipher& cipher,
                                        Compressor& compressor) {
  if (plain.size() > kMaxTextBlock) {
    return fail(ErrorCode::kInternal, "text index block over the limit");
  }
  auto packed = compressor.compress(plain);
  if (!packed) return tl::make_unexpected(packed.error());
  return write_block(*packed, static_cast<std::uint32_t>(plain.size()), cipher);
}

Result<void> TextIndexWriter::finish(ChunkCipher& cipher) {
  if (auto r = write_block({}, 0, cipher); !r) return r;
  if (::fsync(fd_.get()) != 0) {
    return fail(ErrorCode::kIo, "syncing the text index: " + errno_text(errno));
  }
  fd_.reset();
  std::error_code ec;
  std::filesystem::rename(path_.string() + ".tmp", path_, ec);
  if (ec) return fail(ErrorCode::kIo, "renaming the text index: " + ec.message());
  const auto dir = path_.parent_path().empty() ? std::filesystem::path(".") : path_.parent_path();
  return fsync_directory(dir);
}

Result<std::optional<TextIndex>> read_text_index(const std::filesystem::path& path,
                                                 const Digest& header_hash, ChunkCipher& cipher,
                                                 Compressor& compressor) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<TextIndex>();
  auto text = read_file(path, kMaxTextFile);
  if (!text) return tl::make_unexpected(text.error());
  const ByteView data = as_bytes(*text);
  if (!starts_with(data, kTextMagic, header_hash)) return std::optional<TextIndex>();
  format::Cursor c(data.subspan(kTextMagic.size() + header_hash.size()));
  TextIndex index;
  const auto altered = [&] {
    return fail(ErrorCode::kCorrupt, "text index " + path.string() + " was altered");
  };
  for (std::uint64_t block = 0;; ++block) {
    std::uint32_t plain_len = 0, sealed_len = 0;
    ByteView sealed;
    if (!c.u32(plain_len) || !c.u32(sealed_len) || plain_len > kMaxTextBlock ||
        !c.bytes(sealed_len, sealed)) {
      return altered();
    }
    auto packed = cipher.open(NonceDomain::kTextIndex, block, sealed,
                              block_ad(header_hash, block, plain_len));
    if (!packed) return altered();
    if (plain_len == 0) {
      if (c.remaining() != 0) return altered();
      return std::optional<TextIndex>(std::move(index));
    }
    auto plain = compressor.decompress(*packed, plain_len);
    if (!plain) return tl::make_unexpected(plain.error());
    if (auto r = index.decode_append(*plain); !r) return tl::make_unexpected(r.error());
  }
}

}  // namespace sekisho::recorder
