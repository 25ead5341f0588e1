// Positional reads and writes on a file descriptor, with the short counts and EINTR handled.
#pragma once

#include <unistd.h>

#include <cstdint>

#include "base/crypto.hpp"
#include "base/result.hpp"

namespace sekisho::recorder {

// Owns a file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Writes all of `data` at `offset`; the error names errno.
Result<void> write_all_at(int fd, ByteView data, std::uint64_t offset);
// `first` then `second` at `offset` with one pwritev (a chunk's frame header and its sealed bytes,
// without copying them together first).
Result<void> write_all_at(int fd, ByteView first, ByteView second, std::uint64_t offset);
// Reads exactly `size` bytes at `offset`; fails with kCorrupt on a short file.
Result<Bytes> read_exact_at(int fd, std::uint64_t offset, std::size_t size);

}  // namespace sekisho::recorder
