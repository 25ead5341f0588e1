#include "base/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/c_handle.hpp"

namespace sekisho {

namespace {

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports the error close() gives (NFS and quota errors surface there).
  int close_checked() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Result<void> write_all(int fd, std::span<const std::uint8_t> bytes, const std::string& what) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kIo, "cannot write " + what + ": " + errno_text(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

}  // namespace

std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r returns the message pointer.
  return strerror_r(err, buf, sizeof buf);
}

Result<void> fsync_directory(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return fail(ErrorCode::kIo, "cannot sync directory " + dir.string() + ": " + errno_text(errno));
  }
  return ok();
}

Result<void> write_file_atomic(const std::filesystem::path& path,
                               std::span<const std::uint8_t> bytes, mode_t mode) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmpl = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  Fd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (fd.get() < 0) {
    return fail(ErrorCode::kIo,
                "cannot create a file in " + dir.string() + ": " + errno_text(errno));
  }
  auto cleanup_on_error = [&](Error e) {
    ::unlink(tmpl.c_str());
    return tl::make_unexpected(std::move(e));
  };
  if (::fchmod(fd.get(), mode) != 0) {
    return cleanup_on_error({ErrorCode::kIo, "cannot chmod " + tmpl + ": " + errno_text(errno)});
  }
  if (auto r = write_all(fd.get(), bytes, path.string()); !r) return cleanup_on_error(r.error());
  if (::fsync(fd.get()) != 0 || fd.close_checked() != 0) {
    return cleanup_on_error(
        {ErrorCode::kIo, "cannot sync " + path.string() + ": " + errno_text(errno)});
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    return cleanup_on_error(
        {ErrorCode::kIo, "cannot rename into " + path.string() + ": " + errno_text(errno)});
  }
  return fsync_directory(dir);
}

Result<void> append_line_durable(const std::filesystem::path& path, const std::string& line,
                                 mode_t mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    return fail(ErrorCode::kIo, "cannot open " + path.string() + ": " + errno_text(errno));
  }
  std::string with_newline = line + "\n";
  if (auto r = write_all(
          fd.get(),
          {reinterpret_cast<const std::uint8_t*>(with_newline.data()), with_newline.size()},
          path.string());
      !r) {
    return r;
  }
  if (::fsync(fd.get()) != 0) {
    return fail(ErrorCode::kIo, "cannot sync " + path.string() + ": " + errno_text(errno));
  }
  return ok();
}

namespace {

Result<void> read_into(int fd, std::uint8_t* out, std::size_t size, const std::string& what) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, out + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrorCode::kIo, "cannot read " + what + ": " + errno_text(errno));
    if (n == 0) return fail(ErrorCode::kIo, "cannot read " + what + ": file shrank while reading");
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

Result<std::size_t> open_and_size(const std::filesystem::path& path, std::size_t max_size,
                                  int* fd_out, bool private_file) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot read " + path.string() + ": " + errno_text(errno));
  }
  *fd_out = fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail(ErrorCode::kIo, "cannot read " + path.string() + ": not a regular file");
  }
  if (private_file && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(ErrorCode::kPermissionDenied, path.string() +
                                                  " is accessible by group or others (mode " +
                                                  mode + "); run: chmod 600 " + path.string());
  }
  if (static_cast<std::size_t>(st.st_size) > max_size) {
    return fail(ErrorCode::kInvalidArgument,
                path.string() + " is larger than " + std::to_string(max_size) + " bytes");
  }
  return static_cast<std::size_t>(st.st_size);
}

}  // namespace

Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_size) {
  int raw = -1;
  auto size = open_and_size(path, max_size, &raw, false);
  Fd fd(raw);
  if (!size) return tl::make_unexpected(size.error());
  std::string out(*size, '\0');
  if (auto r = read_into(fd.get(), reinterpret_cast<std::uint8_t*>(out.data()), out.size(),
                         path.string());
      !r) {
    return tl::make_unexpected(r.error());
  }
  return out;
}

Result<Secret> read_private_file(const std::filesystem::path& path, std::size_t max_size) {
  int raw = -1;
  auto size = open_and_size(path, max_size, &raw, true);
  Fd fd(raw);
  if (!size) return tl::make_unexpected(size.error());
  Secret out(*size);
  if (auto r = read_into(fd.get(), out.data(), out.size(), path.string()); !r) {
    return tl::make_unexpected(r.error());
  }
  return out;
}

}  // namespace sekisho
