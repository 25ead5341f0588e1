// Reader: opens a recording with its data key; seeks by the seek index, searches by the text index.
#include <algorithm>

#include "recorder/chunk_crypto.hpp"
#include "recorder/file_io.hpp"
#include "recorder/format.hpp"
#include "recorder/frame_scan.hpp"
#include "recorder/index_files.hpp"
#include "recorder/recording.hpp"

namespace sekisho::recorder {

namespace {

struct DecodedChunk {
  std::vector<Record> records;
  Digest prev_hash{};
  Digest hash{};
};

class ReaderImpl final : public Reader {
 public:
  ReaderImpl(std::filesystem::path path, std::unique_ptr<OpenedFile> file, ChunkCipher cipher)
      : path_(std::move(path)), file_(std::move(file)), cipher_(std::move(cipher)) {}

  Result<void> load_index();

  const Header& header() const override { return file_->header.header; }
  std::int64_t duration_us() const override { return duration_us_; }
  std::uint64_t chunk_count() const override { return index_.chunks.size(); }
  std::optional<std::uint64_t> truncated_after() const override { return truncated_after_; }
  Result<void> replay(std::int64_t from_us,
                      const std::function<bool(const Record&)>& visit) override;
  Result<std::vector<SearchHit>> search(std::string_view text, std::size_t limit) override;
  std::uint64_t decoded_chunks() const override { return decoded_; }
  Result<void> write_indexes() override;

 private:
  Result<DecodedChunk> decode_chunk(std::uint64_t i);

  const std::filesystem::path path_;
  std::unique_ptr<OpenedFile> file_;
  ChunkCipher cipher_;
  Compressor compressor_{3};
  SeekIndex index_;
  std::int64_t duration_us_ = 0;
  std::optional<std::uint64_t> truncated_after_;
  std::optional<TextIndex> text_;
  std::uint64_t decoded_ = 0;
};

Result<void> ReaderImpl::load_index() {
  std::optional<format::Closing> closing;
  if (auto idx = read_seek_index(seek_index_path(path_), file_->start_hash, file_->size)) {
    index_ = std::move(*idx);
    if (index_.closing_offset) {
      const std::uint64_t rest = file_->size - *index_.closing_offset;
      if (rest > format::kClosingMaxBytes) return fail(ErrorCode::kCorrupt, "bad closing offset");
      auto bytes = read_exact_at(file_->fd, *index_.closing_offset, static_cast<std::size_t>(rest));
      if (!bytes) return tl::make_unexpected(bytes.error());
      auto c = format::decode_closing(*bytes);
      if (!c) return tl::make_unexpected(c.error());
      closing = std::move(*c);
    }
  } else {
    // No usable index (the writer crashed, or it was deleted): the frame headers hold the same
    // facts; walking them reads 69 bytes per chunk and decrypts nothing.
    index_ = {};
    index_.file_size = file_->size;
    auto end = scan_frames(
        *file_, false,
        [&](const format::FrameHeader& f, std::uint64_t offset, const std::optional<Digest>&) {
          if (f.index != index_.chunks.size()) return false;
          index_.chunks.push_back({offset, f.first_us, f.last_us});
          return true;
        });
    if (!end) return tl::make_unexpected(end.error());
    if (end->kind == ScanEnd::Kind::kClosing) {
      index_.closing_offset = end->offset;
      closing = end->closing;
    }
  }
  if (closing) {
    if (closing->chunks != index_.chunks.size()) {
      return fail(ErrorCode::kCorrupt, path_.string() + ": closing record names " +
                                           std::to_string(closing->chunks) + " chunks, file has " +
                                           std::to_string(index_.chunks.size()));
    }
    duration_us_ = closing->end_us;
  } else {
    truncated_after_ = index_.chunks.size();
    duration_us_ = index_.chunks.empty() ? 0 : index_.chunks.back().last_us;
  }
  return ok();
}

Result<DecodedChunk> ReaderImpl::decode_chunk(std::uint64_t i) {
  const SeekEntry& e = index_.chunks[static_cast<std::size_t>(i)];
  const std::string what = "chunk " + std::to_string(i);
  auto head = read_exact_at(file_->fd, e.offset, format::kFrameHeaderBytes);
  if (!head) return tl::make_unexpected(head.error());
  auto frame = format::decode_frame_header(*head, what);
  if (!frame) return tl::make_unexpected(frame.error());
  if (frame->index != i || frame->first_us != e.first_us || frame->last_us != e.last_us ||
      e.offset + format::kFrameHeaderBytes + frame->cipher_len > file_->size) {
    return fail(ErrorCode::kCorrupt, what + ": frame does not match the seek index");
  }
  auto sealed = read_exact_at(file_->fd, e.offset + format::kFrameHeaderBytes, frame->cipher_len);
  if (!sealed) return tl::make_unexpected(sealed.error());
  ++decoded_;
  auto packed = cipher_.open(NonceDomain::kChunk, i, *sealed, *head);
  if (!packed) return fail(ErrorCode::kCorrupt, what + ": " + packed.error().message);
  auto plain = compressor_.decompress(*packed, frame->plain_len);
  if (!plain) return fail(ErrorCode::kCorrupt, what + ": " + plain.error().message);
  auto records = format::decode_records(*plain, *frame, what);
  if (!records) return tl::make_unexpected(records.error());
  return DecodedChunk{std::move(*records), frame->prev_hash, format::chunk_hash(*head, *sealed)};
}

Result<void> ReaderImpl::replay(std::int64_t from_us,
                                const std::function<bool(const Record&)>& visit) {
  const auto& chunks = index_.chunks;
  const auto it =
      std::lower_bound(chunks.begin(), chunks.end(), from_us,
                       [](const SeekEntry& e, std::int64_t t) { return e.last_us < t; });
  std::optional<Digest> prev;
  for (auto i = static_cast<std::uint64_t>(it - chunks.begin()); i < chunks.size(); ++i) {
    auto chunk = decode_chunk(i);
    if (!chunk) return tl::make_unexpected(chunk.error());
    // Chunks read in a row must chain; the whole chain is verify()'s job.
    if (prev && chunk->prev_hash != *prev) {
      return fail(ErrorCode::kCorrupt, "chunk " + std::to_string(i) + ": hash chain broken");
    }
    prev = chunk->hash;
    for (const Record& r : chunk->records) {
      if (r.at_us >= from_us && !visit(r)) return ok();
    }
  }
  return ok();
}

Result<std::vector<SearchHit>> ReaderImpl::search(std::string_view text, std::size_t limit) {
  if (!text_) {
    auto stored = read_text_index(text_index_path(path_), file_->start_hash, cipher_, compressor_);
    if (!stored) return tl::make_unexpected(stored.error());
    if (*stored && truncated_after_) stored->reset();  // cannot describe a crashed recording
    if (*stored) {
      text_ = std::move(**stored);
    } else {
      // No text index (crashed writer): built once from every chunk, then kept.
      TextIndex built;
      for (std::uint64_t i = 0; i < index_.chunks.size(); ++i) {
        auto chunk = decode_chunk(i);
        if (!chunk) return tl::make_unexpected(chunk.error());
        for (const Record& r : chunk->records) built.add(i, r);
      }
      text_ = std::move(built);
    }
  }
  return text_->search(text, limit);
}

Result<void> ReaderImpl::write_indexes() {
  if (truncated_after_) {
    return fail(ErrorCode::kInvalidArgument,
                path_.string() + ": no closing record; index files describe closed recordings");
  }
  auto text_file = TextIndexWriter::create(text_index_path(path_), file_->start_hash);
  if (!text_file) return tl::make_unexpected(text_file.error());
  TextIndex text;
  for (std::uint64_t i = 0; i < index_.chunks.size(); ++i) {
    auto chunk = decode_chunk(i);
    if (!chunk) return tl::make_unexpected(chunk.error());
    for (const Record& r : chunk->records) text.add(i, r);
    if (text.pending_text_bytes() >= kTextBlockBytes) {
      if (auto r = text_file->add_block(text.take_block(), cipher_, compressor_); !r) return r;
    }
  }
  if (text.pending_text_bytes() > 0) {
    if (auto r = text_file->add_block(text.take_block(), cipher_, compressor_); !r) return r;
  }
  if (auto r = text_file->finish(cipher_); !r) return r;
  return write_seek_index(seek_index_path(path_), file_->start_hash, index_);
}

}  // namespace

Result<std::unique_ptr<Reader>> Reader::open(const std::filesystem::path& path,
                                             const KeyUnwrapper& unwrap) {
  auto file = open_recording(path);
  if (!file) return tl::make_unexpected(file.error());
  auto key = unwrap((*file)->header.header, (*file)->header.wrapped_key);
  if (!key) return tl::make_unexpected(key.error());
  auto cipher = ChunkCipher::create(*key);
  if (!cipher) return tl::make_unexpected(cipher.error());
  auto reader = std::make_unique<ReaderImpl>(path, std::move(*file), std::move(*cipher));
  if (auto r = reader->load_index(); !r) return tl::make_unexpected(r.error());
  return std::unique_ptr<Reader>(std::move(reader));
}

Result<Header> read_header(const std::filesystem::path& path) {
  auto file = open_recording(path);
  if (!file) return tl::make_unexpected(file.error());
  return (*file)->header.header;
}

}  // namespace sekisho::recorder
