#include "recorder/frame_scan.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/files.hpp"
#include "recorder/file_io.hpp"

namespace sekisho::recorder {

OpenedFile::~OpenedFile() {
  if (fd >= 0) ::close(fd);
}

Result<std::unique_ptr<OpenedFile>> open_recording(const std::filesystem::path& path) {
  auto f = std::make_unique<OpenedFile>();
  f->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) {
    return fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "opening recording " + path.string() + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail(ErrorCode::kInvalidArgument, path.string() + " is not a regular file");
  }
  f->size = static_cast<std::uint64_t>(st.st_size);
  if (f->size < format::kHeaderPrefixBytes) {
    return fail(ErrorCode::kInvalidArgument,
                path.string() + ": not a Sekisho recording (too short)");
  }
  auto prefix = read_exact_at(f->fd, 0, format::kHeaderPrefixBytes);
  if (!prefix) return tl::make_unexpected(prefix.error());
  auto len = format::header_length(*prefix);
  if (!len) return fail(len.error().code, path.string() + ": " + len.error().message);
  if (*len > f->size) return fail(ErrorCode::kCorrupt, path.string() + ": header is cut short");
  auto raw = read_exact_at(f->fd, 0, *len);
  if (!raw) return tl::make_unexpected(raw.error());
  auto header = format::decode_header(*raw);
  if (!header) return fail(header.error().code, path.string() + ": " + header.error().message);
  f->header = std::move(*header);
  f->start_hash = format::header_hash(f->header.raw);
  return f;
}

Result<ScanEnd> scan_frames(const OpenedFile& file, bool hash, const FrameVisitor& visit) {
  std::uint64_t offset = file.header.raw.size();
  std::uint64_t index = 0;
  for (;; ++index) {
    ScanEnd end;
    end.offset = offset;
    if (offset == file.size) return end;  // kCleanEnd
    auto type = read_exact_at(file.fd, offset, 1);
    if (!type) return tl::make_unexpected(type.error());
    if (const std::size_t fixed = format::closing_fixed_bytes((*type)[0]); fixed > 0) {
      const std::uint64_t rest = file.size - offset;
      if (rest > format::kClosingMaxBytes) {
        end.kind = ScanEnd::Kind::kUnreadable;
        end.message =
            "closing record followed by " + std::to_string(rest - fixed) + " unexpected bytes";
        return end;
      }
      auto bytes = read_exact_at(file.fd, offset, static_cast<std::size_t>(rest));
      if (!bytes) return tl::make_unexpected(bytes.error());
      auto closing = format::decode_closing(*bytes);
      if (!closing) {
        // A closing record cut by a crash during close() (or a seal cut afterwards) reads like a
        // cut file.
        const auto& b = *bytes;
        const bool cut =
            rest < fixed || fixed + (std::size_t{b[fixed - 2]} << 8 | b[fixed - 1]) > rest;
        end.kind = cut ? ScanEnd::Kind::kPartial : ScanEnd::Kind::kUnreadable;
        end.message = closing.error().message;
        return end;
      }
      end.kind = ScanEnd::Kind::kClosing;
      end.closing = std::move(*closing);
      return end;
    }
    const std::string what = "chunk " + std::to_string(index);
    if (file.size - offset < format::kFrameHeaderBytes) {
      end.kind = ScanEnd::Kind::kPartial;
      return end;
    }
    auto head = read_exact_at(file.fd, offset, format::kFrameHeaderBytes);
    if (!head) return tl::make_unexpected(head.error());
    auto frame = format::decode_frame_header(*head, what);
    if (!frame) {
      end.kind = ScanEnd::Kind::kUnreadable;
      end.message = frame.error().message;
      return end;
    }
    const std::uint64_t next = offset + format::kFrameHeaderBytes + frame->cipher_len;
    if (next > file.size) {
      end.kind = ScanEnd::Kind::kPartial;
      return end;
    }
    std::optional<Digest> h;
    if (hash) {
      auto cipher = read_exact_at(file.fd, offset + format::kFrameHeaderBytes, frame->cipher_len);
      if (!cipher) return tl::make_unexpected(cipher.error());
      h = format::chunk_hash(*head, *cipher);
    }
    if (!visit(*frame, offset, h)) {
      end.kind = ScanEnd::Kind::kUnreadable;
      return end;
    }
    offset = next;
  }
}

}  // namespace sekisho::recorder
