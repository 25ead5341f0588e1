// Walks the chunk frames of a recording without decrypting them: what the reader uses to rebuild
// a missing seek index and what verify uses to check the chain.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/crypto.hpp"
#include "base/result.hpp"
#include "recorder/format.hpp"

namespace sekisho::recorder {

// Opens a recording read-only and parses its header; the descriptor and size go with it.
struct OpenedFile {
  int fd = -1;
  std::uint64_t size = 0;
  format::FileHeader header;
  Digest start_hash{};
  ~OpenedFile();
  OpenedFile() = default;
  OpenedFile(const OpenedFile&) = delete;
  OpenedFile& operator=(const OpenedFile&) = delete;
};
Result<std::unique_ptr<OpenedFile>> open_recording(const std::filesystem::path& path);

struct ScanEnd {
  enum class Kind {
    kClosing,     // a closing record at `offset`
    kCleanEnd,    // the file ends exactly after a chunk
    kPartial,     // the file ends inside a frame (a write cut by a crash)
    kUnreadable,  // bytes at `offset` are not a frame: `message` says why
  };
  Kind kind = Kind::kCleanEnd;
  std::uint64_t offset = 0;
  std::optional<format::Closing> closing;
  std::string message;
};

// Called per complete frame with its offset; `hash` is set when hashing was asked for.
// Returning false stops the scan (the end then reads kUnreadable with an empty message).
using FrameVisitor = std::function<bool(const format::FrameHeader& frame, std::uint64_t offset,
                                        const std::optional<Digest>& hash)>;

// Reads frames from `offset` (the end of the header) to the end of the file.
Result<ScanEnd> scan_frames(const OpenedFile& file, bool hash, const FrameVisitor& visit);

}  // namespace sekisho::recorder
