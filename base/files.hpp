// Durable file writes and bounded, permission-checked reads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho {

// Writes `bytes` to `path` with `mode` so that after a crash the file holds either the old or the
// new content, never a mix: temp file in the same directory, fsync, rename, fsync directory.
Result<void> write_file_atomic(const std::filesystem::path& path,
                               std::span<const std::uint8_t> bytes, mode_t mode);

// Appends one line durably (O_APPEND + fsync); creates the file with `mode` if missing.
Result<void> append_line_durable(const std::filesystem::path& path, const std::string& line,
                                 mode_t mode);

// Reads a whole file of at most `max_size` bytes.
Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_size);

// Reads a key file into a Secret. Refuses it when group or others may read or write it, when it is
// not a regular file, or when it is larger than `max_size`.
Result<Secret> read_private_file(const std::filesystem::path& path, std::size_t max_size);

// fsync on a directory, so that a rename or a new file in it survives a crash.
Result<void> fsync_directory(const std::filesystem::path& dir);

// strerror(errno) as a string, thread-safe.
std::string errno_text(int err);

}  // namespace sekisho
