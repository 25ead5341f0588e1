// seal_recording(): the core's closing record for a recording whose writer died without one, and
// recording_writer(): who still holds a recording's writer lock.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "base/files.hpp"
#include "recorder/file_io.hpp"
#include "recorder/format.hpp"
#include "recorder/frame_scan.hpp"
#include "recorder/recording.hpp"

namespace sekisho::recorder {

namespace {

struct flock whole_file_write_lock() {
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = 0;
  lk.l_len = 0;  // to the end, however far the file grows
  return lk;
}

Result<UniqueFd> open_for(const std::filesystem::path& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    return fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "opening recording " + path.string() + ": " + errno_text(errno));
  }
  return fd;
}

Result<Digest> digest_of(const std::string& hex) {
  auto bytes = hex_decode_secret(hex);
  if (!bytes || bytes->size() != sizeof(Digest)) {
    return fail(ErrorCode::kInternal, "malformed chain hash");
  }
  Digest d{};
  std::memcpy(d.data(), bytes->bytes().data(), d.size());
  return d;
}

}  // namespace

Result<std::optional<pid_t>> recording_writer(const std::filesystem::path& path) {
  auto fd = open_for(path, O_RDONLY);
  if (!fd) return tl::make_unexpected(fd.error());
  struct flock lk = whole_file_write_lock();
  // F_GETLK, not the open-file variant: it reports a writer's process lock with its pid. (This
  // process holds no process lock on a recording, so closing `fd` drops nothing of ours.)
  if (::fcntl(fd->get(), F_GETLK, &lk) != 0) {
    return fail(ErrorCode::kIo, "checking the lock of " + path.string() + ": " + errno_text(errno));
  }
  if (lk.l_type == F_UNLCK) return std::optional<pid_t>();
  return std::optional<pid_t>(lk.l_pid > 0 ? lk.l_pid : -1);
}

Result<SealOutcome> seal_recording(const std::filesystem::path& path, SealReason reason,
                                   std::int64_t sealed_at_unix_us, const SigningKey& signer) {
  auto fd = open_for(path, O_RDWR);
  if (!fd) return tl::make_unexpected(fd.error());
  // An open-file lock: it conflicts with a writer's process lock, and unlike a process lock it
  // is not dropped when verify() below closes its own descriptor of the same file.
  struct flock lk = whole_file_write_lock();
  if (::fcntl(fd->get(), F_OFD_SETLK, &lk) != 0) {
    return fail(ErrorCode::kAlreadyExists,
                "recording " + path.string() + " is still held by its writer; not sealed");
  }
  auto report = verify(path, signer.public_pem());
  if (!report) return tl::make_unexpected(report.error());
  SealOutcome out;
  out.summary = {report->final_hash, report->size_bytes, report->duration_us, report->chunks};
  if (!report->truncated_after) {
    if (report->ok()) {
      out.already_closed = true;
      return out;
    }
    return fail(
        ErrorCode::kCorrupt,
        "recording " + path.string() + " does not verify, not sealed: " +
            (report->problems.empty() ? "invalid closing record" : report->problems.front()));
  }
  if (!report->chain_ok) {
    return fail(
        ErrorCode::kCorrupt,
        "recording " + path.string() + " does not verify, not sealed: " + report->problems.front());
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 ||
      static_cast<std::uint64_t>(st.st_size) != report->size_bytes) {
    return fail(ErrorCode::kCorrupt,
                "recording " + path.string() + " changed while it was checked; not sealed");
  }
  auto file = open_recording(path);
  if (!file) return tl::make_unexpected(file.error());
  auto final_hash = digest_of(report->final_hash);
  if (!final_hash) return tl::make_unexpected(final_hash.error());

  format::Closing c;
  c.chunks = report->chunks;
  c.end_us = report->duration_us;
  c.size_bytes = report->chain_end_offset;
  c.final_hash = *final_hash;
  c.seal = Seal{reason, sealed_at_unix_us, report->size_bytes - report->chain_end_offset};
  auto signature = signer.sign(format::closing_message((*file)->start_hash, c));
  if (!signature) return tl::make_unexpected(signature.error());
  c.signature = std::move(*signature);
  // Cut the torn write (a frame the writer did not finish), then the seal where it began.
  if (c.seal->cut_bytes > 0 &&
      ::ftruncate(fd->get(), static_cast<off_t>(report->chain_end_offset)) != 0) {
    return fail(ErrorCode::kIo,
                "cutting the torn end of " + path.string() + ": " + errno_text(errno));
  }
  const Bytes record = format::encode_closing(c);
  if (auto w = write_all_at(fd->get(), record, report->chain_end_offset); !w) {
    return fail(ErrorCode::kIo, "sealing " + path.string() + ": " + w.error().message);
  }
  if (::fsync(fd->get()) != 0) {
    return fail(ErrorCode::kIo, "syncing " + path.string() + ": " + errno_text(errno));
  }
  out.seal = *c.seal;
  out.summary.size_bytes = report->chain_end_offset + record.size();
  return out;
}

}  // namespace sekisho::recorder
