// Writer: a bounded queue in front of one thread that seals chunks and writes them durably.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/files.hpp"
#include "recorder/chunk_crypto.hpp"
#include "recorder/file_io.hpp"
#include "recorder/format.hpp"
#include "recorder/index_files.hpp"
#include "recorder/recording.hpp"

namespace sekisho::recorder {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr int kZstdLevel = 3;
constexpr std::size_t kMinChunkBytes = 256;

class WriterImpl final : public Writer {
 public:
  // Without `text_file` (a writer on a passed descriptor) no index file is written.
  WriterImpl(std::filesystem::path path, UniqueFd fd, Digest start, ChunkCipher cipher,
             WriterOptions options, std::uint64_t offset, std::optional<TextIndexWriter> text_file)
      : path_(std::move(path)),
        text_file_(std::move(text_file)),
        fd_(std::move(fd)),
        start_hash_(start),
        prev_hash_(start),
        cipher_(std::move(cipher)),
        compressor_(kZstdLevel),
        options_(options),
        offset_(offset),
        file_bytes_(offset),
        started_(SteadyClock::now()) {
    thread_ = std::thread([this] { run(); });
  }

  ~WriterImpl() override { stop_thread(); }

  AppendStatus append(Record record) override;
  std::optional<Error> failure() const override {
    std::lock_guard lock(mu_);
    return failure_;
  }
  Result<RecordingSummary> close(const SignFunction& sign) override;
  std::size_t queue_room() const override {
    std::lock_guard lock(mu_);
    return options_.queue_bytes - std::min(queued_bytes_, options_.queue_bytes);
  }

 private:
  AppendStatus take(Record record);  // with mu_ held
  std::uint64_t file_bound(std::size_t pending) const;
  std::size_t wake_bytes() const {
    return std::min(4 * options_.chunk_bytes, options_.queue_bytes / 4);
  }
  void run();
  void add_to_chunk(Record r);
  bool seal_chunk();
  bool sync_file();
  void set_failure(std::string message);
  void stop_thread();

  const std::filesystem::path path_;
  std::optional<TextIndexWriter> text_file_;
  UniqueFd fd_;
  const Digest start_hash_;
  Digest prev_hash_;
  ChunkCipher cipher_;
  Compressor compressor_;
  const WriterOptions options_;

  // Shared with appenders, under mu_.
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Record> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t pending_bytes_ = 0;  // accepted, not yet in the file (queue and open chunk)
  std::int64_t last_at_ = 0;
  bool closing_ = false, cap_reached_ = false, closed_ = false;
  bool writer_idle_ = false;  // the writer waits with no deadline: the next record wakes it
  std::optional<Error> failure_;

  // Writer thread only (and close() after the thread ended).
  std::uint64_t offset_;
  std::uint64_t file_bytes_;  // under mu_ as well: appenders read it for the cap
  Bytes chunk_;
  format::FrameHeader frame_;
  std::size_t chunk_bound_ = 0;
  SteadyClock::time_point chunk_started_;
  std::int64_t prev_at_ = 0;
  std::uint64_t records_ = 0;
  SeekIndex seek_;
  TextIndex text_;
  const SteadyClock::time_point started_;
  SteadyClock::time_point synced_at_ = started_;
  bool unsynced_ = false;  // chunks written since the last fdatasync
  std::thread thread_;
};

AppendStatus WriterImpl::append(Record record) {
  std::lock_guard lock(mu_);
  if (closing_) return AppendStatus::kClosed;
  if (failure_) return AppendStatus::kFailed;
  if (cap_reached_) return AppendStatus::kCapReached;
  if (record.at_us < 0) {
    record.at_us =
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - started_)
            .count();
  }
  // Records are stored in order with non-negative deltas: a caller's clock that steps back is
  // clamped rather than reordering what the user saw.
  record.at_us = std::max(record.at_us, last_at_);
  if (record.kind == RecordKind::kFileTransfer &&
      record.transfer.path.size() > format::kMaxFieldBytes) {
    record.transfer.path.resize(format::kMaxFieldBytes);
  }
  if (record.data.size() <= format::kMaxRecordBytes) return take(std::move(record));
  // A payload above the record limit is stored as consecutive records with one time; byte streams
  // replay identically.
  for (std::size_t at = 0; at < record.data.size(); at += format::kMaxRecordBytes) {
    Record piece = record;
    piece.data = record.data.substr(at, format::kMaxRecordBytes);
    if (const auto s = take(std::move(piece)); s != AppendStatus::kOk) return s;
  }
  return AppendStatus::kOk;
}

std::uint64_t WriterImpl::file_bound(std::size_t pending) const {
  // The most `pending` record bytes can take once sealed: zstd's worst case and one frame per
  // chunk they may fill.
  const std::uint64_t per_chunk = format::kFrameHeaderBytes + format::kTagBytes + 64;
  return file_bytes_ + pending + pending / 128 +
         (pending / std::max<std::size_t>(options_.chunk_bytes, 1) + 2) * per_chunk +
         format::kCloseMaxBytes;
}

AppendStatus WriterImpl::take(Record record) {
  const std::size_t size = format::record_size_bound(record);
  if (queued_bytes_ + size > options_.queue_bytes) return AppendStatus::kQueueFull;
  if (options_.max_file_bytes > 0 && file_bound(pending_bytes_ + size) > options_.max_file_bytes) {
    cap_reached_ = true;
    return AppendStatus::kCapReached;
  }
  last_at_ = record.at_us;
  queued_bytes_ += size;
  pending_bytes_ += size;
  queue_.push_back(std::move(record));
  // The writer seals a chunk when it is full or its flush interval passed, and sleeps until then:
  // waking it for every record (a futex call and a context switch each) cost a bulk stream more
  // than sealing did. It is woken when it waits for no deadline (the queue was empty) or once a
  // few chunks' worth is queued.
  if (writer_idle_ || queued_bytes_ >= wake_bytes()) wake_.notify_one();
  return AppendStatus::kOk;
}

void WriterImpl::set_failure(std::string message) {
  std::lock_guard lock(mu_);
  if (!failure_) failure_ = Error{ErrorCode::kIo, std::move(message)};
}

void WriterImpl::run() {
  std::deque<Record> batch;
  for (;;) {
    bool stop = false;
    {
      std::unique_lock lock(mu_);
      // Records wait in the queue until a few chunks' worth is there or the open chunk's
      // deadline comes; with nothing queued or open the first record wakes us (and a pending
      // sync's deadline ends the wait).
      if (queue_.empty() && chunk_.empty()) {
        const auto any = [&] { return !queue_.empty() || closing_; };
        writer_idle_ = true;
        if (unsynced_) {
          wake_.wait_until(lock, synced_at_ + options_.flush_interval, any);
        } else {
          wake_.wait(lock, any);
        }
        writer_idle_ = false;
      } else if (!chunk_.empty()) {
        wake_.wait_until(lock, chunk_started_ + options_.flush_interval,
                         [&] { return queued_bytes_ >= wake_bytes() || closing_; });
      }
      batch.swap(queue_);
      queued_bytes_ = 0;
      stop = closing_ && batch.empty();
      if (failure_) return;
    }
    for (auto& r : batch) {
      add_to_chunk(std::move(r));
      if (chunk_.size() >= options_.chunk_bytes && !seal_chunk()) return;
    }
    batch.clear();
    if (!chunk_.empty() &&
        (stop || SteadyClock::now() >= chunk_started_ + options_.flush_interval)) {
      if (!seal_chunk()) return;
    }
    if (unsynced_ && (stop || SteadyClock::now() >= synced_at_ + options_.flush_interval)) {
      if (!sync_file()) return;
    }
    if (stop) return;
  }
}

void WriterImpl::add_to_chunk(Record r) {
  if (chunk_.empty()) {
    frame_ = {};
    frame_.index = seek_.chunks.size();
    frame_.first_us = r.at_us;
    prev_at_ = r.at_us;
    chunk_started_ = SteadyClock::now();
  }
  chunk_bound_ += format::record_size_bound(r);
  format::encode_record(chunk_, r, prev_at_);
  prev_at_ = r.at_us;
  frame_.last_us = r.at_us;
  ++frame_.records;
  ++records_;
  // Without a text index file (create_at: the core writes the index files after the close) the
  // text would be thrown away: not computing it was the largest cut of a gateway worker's CPU.
  if (text_file_) text_.add(frame_.index, r);
}

bool WriterImpl::seal_chunk() {
  auto packed = compressor_.compress(chunk_);
  if (!packed) {
    set_failure("recording " + path_.string() + ": " + packed.error().message);
    return false;
  }
  frame_.plain_len = static_cast<std::uint32_t>(chunk_.size());
  frame_.cipher_len = static_cast<std::uint32_t>(packed->size() + format::kTagBytes);
  frame_.prev_hash = prev_hash_;
  Bytes frame = format::encode_frame_header(frame_);
  auto sealed = cipher_.seal(NonceDomain::kChunk, frame_.index, *packed, frame);
  if (!sealed) {
    set_failure("recording " + path_.string() + ": " + sealed.error().message);
    return false;
  }
  prev_hash_ = format::chunk_hash(frame, *sealed);
  // One write per chunk: a killed process leaves whole chunks and at most one partial frame at
  // the end, which the reader reports as the cut. fdatasync at most once per flush_interval (a
  // sync per 64 KiB chunk bound a bulk stream to ~6 MB/s on a 7 ms-sync disk); run() syncs what
  // is left once the interval passed, and at the end.
  if (auto w = write_all_at(fd_.get(), frame, *sealed, offset_); !w) {
    set_failure("writing recording " + path_.string() + ": " + w.error().message);
    return false;
  }
  unsynced_ = true;
  if (SteadyClock::now() >= synced_at_ + options_.flush_interval && !sync_file()) return false;
  seek_.chunks.push_back({offset_, frame_.first_us, frame_.last_us});
  offset_ += frame.size() + sealed->size();
  {
    std::lock_guard lock(mu_);
    file_bytes_ = offset_;
    pending_bytes_ -= std::min(pending_bytes_, chunk_bound_);
  }
  chunk_.clear();
  chunk_bound_ = 0;
  // The text index goes to its file in blocks of about 256 KiB of text, not at close: memory
  // stays bounded however long the session.
  // (Without a text file nothing is indexed: add_to_chunk.)
  if (text_.pending_text_bytes() >= kTextBlockBytes) {
    if (auto r = text_file_->add_block(text_.take_block(), cipher_, compressor_); !r) {
      set_failure("recording " + path_.string() + ": " + r.error().message);
      return false;
    }
  }
  return true;
}

bool WriterImpl::sync_file() {
  if (::fdatasync(fd_.get()) != 0) {
    set_failure("syncing recording " + path_.string() + ": " + errno_text(errno));
    return false;
  }
  unsynced_ = false;
  synced_at_ = SteadyClock::now();
  return true;
}

void WriterImpl::stop_thread() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

Result<RecordingSummary> WriterImpl::close(const SignFunction& sign) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return fail(ErrorCode::kInvalidArgument, "recording already closed");
    closed_ = true;
  }
  stop_thread();
  if (auto f = failure()) return tl::make_unexpected(*f);
  format::Closing c;
  c.chunks = seek_.chunks.size();
  c.records = records_;
  c.end_us = seek_.chunks.empty() ? 0 : seek_.chunks.back().last_us;
  c.size_bytes = offset_;
  c.final_hash = prev_hash_;
  auto sig = sign(format::closing_message(start_hash_, c));
  if (!sig) return tl::make_unexpected(sig.error());
  if (sig->size() > format::kMaxSignatureBytes) {
    return fail(ErrorCode::kInvalidArgument, "signature longer than 256 bytes");
  }
  c.signature = std::move(*sig);
  const Bytes closing = format::encode_closing(c);
  if (auto w = write_all_at(fd_.get(), closing, offset_); !w) {
    set_failure("writing recording " + path_.string() + ": " + w.error().message);
    return tl::make_unexpected(*failure());
  }
  if (::fsync(fd_.get()) != 0) {
    set_failure("syncing recording " + path_.string() + ": " + errno_text(errno));
    return tl::make_unexpected(*failure());
  }
  seek_.closing_offset = offset_;
  seek_.file_size = offset_ + closing.size();
  const RecordingSummary summary{format::hex(c.final_hash), seek_.file_size, c.end_us, c.chunks};
  if (!text_file_) return summary;
  if (auto r = write_seek_index(seek_index_path(path_), start_hash_, seek_); !r) {
    return tl::make_unexpected(r.error());
  }
  if (text_.pending_text_bytes() > 0) {
    if (auto r = text_file_->add_block(text_.take_block(), cipher_, compressor_); !r) {
      return tl::make_unexpected(r.error());
    }
  }
  if (auto r = text_file_->finish(cipher_); !r) return tl::make_unexpected(r.error());
  return summary;
}

Result<void> check_header(const Header& h, const DataKey& key, std::string_view pem) {
  for (const std::string* s :
       {&h.session_id, &h.user, &h.host, &h.account, &h.request_id, &h.protocol}) {
    if (s->size() > format::kMaxFieldBytes) {
      return fail(ErrorCode::kInvalidArgument, "recording header field longer than 4096 bytes");
    }
  }
  if (pem.size() > format::kMaxFieldBytes) {
    return fail(ErrorCode::kInvalidArgument, "signer public key longer than 4096 bytes");
  }
  if (key.key.size() != 32 || key.wrapped.size() > format::kMaxWrappedKeyBytes) {
    return fail(ErrorCode::kInvalidArgument, "data key must be 32 bytes, wrapped at most 256");
  }
  return ok();
}

}  // namespace

std::filesystem::path seek_index_path(const std::filesystem::path& recording) {
  return recording.string() + ".seek";
}

std::filesystem::path text_index_path(const std::filesystem::path& recording) {
  return recording.string() + ".text";
}

namespace {

// What create and create_at share: the checks, the header written and synced into the empty file.
struct Opened {
  ChunkCipher cipher;
  Digest start{};
  std::uint64_t offset = 0;
};

Result<Opened> start_file(int fd, const std::string& name, const Header& header, const DataKey& key,
                          std::string_view signer_public_pem, const WriterOptions& options) {
  if (auto r = check_header(header, key, signer_public_pem); !r)
    return tl::make_unexpected(r.error());
  if (options.chunk_bytes < kMinChunkBytes || options.chunk_bytes > format::kMaxRecordBytes ||
      options.flush_interval.count() <= 0 || options.queue_bytes == 0) {
    return fail(ErrorCode::kInvalidArgument, "writer options out of range");
  }
  Header h = header;
  if (h.start_unix_us == 0) {
    h.start_unix_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  }
  // A process lock for the writer's whole life: the kernel drops it when this process dies, so
  // a core that finds it free knows no writer is left, and one that finds it held learns the
  // holder's pid (recording_writer); seal_recording refuses a held file. A process lock rather
  // than flock(): only it names its holder. (It is dropped if this process closes any other
  // descriptor of the file, which a writer never does.)
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  if (::fcntl(fd, F_SETLK, &lk) != 0) {
    return fail(ErrorCode::kIo,
                "recording " + name + " is locked by another writer: " + errno_text(errno));
  }
  auto cipher = ChunkCipher::create(key.key);
  if (!cipher) return tl::make_unexpected(cipher.error());
  const Bytes raw = format::encode_header(h, key.wrapped, signer_public_pem);
  if (auto w = write_all_at(fd, raw, 0); !w) {
    return fail(ErrorCode::kIo, "writing recording " + name + ": " + w.error().message);
  }
  if (::fdatasync(fd) != 0) {
    return fail(ErrorCode::kIo, "syncing recording " + name + ": " + errno_text(errno));
  }
  return Opened{std::move(*cipher), format::header_hash(raw), raw.size()};
}

}  // namespace

Result<std::unique_ptr<Writer>> Writer::create(const std::filesystem::path& path,
                                               const Header& header, DataKey key,
                                               std::string signer_public_pem,
                                               WriterOptions options) {
  if (auto r = check_header(header, key, signer_public_pem); !r)
    return tl::make_unexpected(r.error());
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    return fail(ErrorCode::kIo, "creating recording " + path.string() + ": " + errno_text(errno));
  }
  auto opened = start_file(fd.get(), path.string(), header, key, signer_public_pem, options);
  if (!opened) return tl::make_unexpected(opened.error());
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  if (auto r = fsync_directory(dir); !r) return tl::make_unexpected(r.error());
  auto text_file = TextIndexWriter::create(text_index_path(path), opened->start);
  if (!text_file) return tl::make_unexpected(text_file.error());
  return std::unique_ptr<Writer>(new WriterImpl(path, std::move(fd), opened->start,
                                                std::move(opened->cipher), options, opened->offset,
                                                std::move(*text_file)));
}

Result<std::unique_ptr<Writer>> Writer::create_at(int fd, const std::string& name,
                                                  const Header& header, DataKey key,
                                                  std::string signer_public_pem,
                                                  WriterOptions options) {
  UniqueFd owned(fd);
  if (!owned) return fail(ErrorCode::kInvalidArgument, "no descriptor for recording " + name);
  if (name.size() > format::kMaxFieldBytes) {
    return fail(ErrorCode::kInvalidArgument, "recording name longer than 4096 bytes");
  }
  // Only a fresh, empty, writable regular file: anything else would mix this recording into
  // another file or write where a crash could not leave a verifiable prefix.
  struct stat st {};
  if (::fstat(owned.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail(ErrorCode::kInvalidArgument, "recording " + name + " is not a regular file");
  }
  if (st.st_size != 0) {
    return fail(ErrorCode::kInvalidArgument, "recording " + name + " is not empty");
  }
  const int flags = ::fcntl(owned.get(), F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY || (flags & O_APPEND) != 0) {
    return fail(ErrorCode::kInvalidArgument,
                "recording " + name + " is not open for positional writing");
  }
  auto opened = start_file(owned.get(), name, header, key, signer_public_pem, options);
  if (!opened) return tl::make_unexpected(opened.error());
  return std::unique_ptr<Writer>(new WriterImpl(name, std::move(owned), opened->start,
                                                std::move(opened->cipher), options, opened->offset,
                                                std::nullopt));
}

}  // namespace sekisho::recorder
