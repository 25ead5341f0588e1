#include "recorder/file_io.hpp"

#include <sys/uio.h>

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

Result<void> write_all_at(int fd, ByteView first, ByteView second, std::uint64_t offset) {
  const std::size_t total = first.size() + second.size();
  std::size_t done = 0;
  while (done < total) {
    iovec parts[2];
    int count = 0;
    if (done < first.size()) {
      parts[count++] = {const_cast<std::uint8_t*>(first.data()) + done, first.size() - done};
    }
    const std::size_t in_second = done > first.size() ? done - first.size() : 0;
    if (in_second < second.size()) {
      parts[count++] = {const_cast<std::uint8_t*>(second.data()) + in_second,
                        second.size() - in_second};
    }
    const ssize_t n = ::pwritev(fd, parts, count, static_cast<off_t>(offset + done));
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
