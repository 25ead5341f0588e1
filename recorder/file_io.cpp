#include "recorder/file_io.hpp"

#include <cerrno>

#include "base/files.hpp"

namespace sekisho::recorder {

Result<void> write_all_at(int fd, ByteView data, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorCode::kIo, errno_text(n < 0 ? errno : ENOSPC));
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

Result<Bytes> read_exact_at(int fd, std::uint64_t offset, std::size_t size) {
  Bytes out(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n =
        ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrorCode::kIo, "reading recording: " + errno_text(errno));
    if (n == 0) return fail(ErrorCode::kCorrupt, "recording ends early");
    done += static_cast<std::size_t>(n);
  }
  return out;
}

}  // namespace sekisho::recorder
