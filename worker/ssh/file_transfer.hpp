// File transfers seen in an SSH session's byte streams (docs/ssh_gateway.md "File transfers"):
// the SFTP v3 subsystem (sftp, and scp since OpenSSH 9) and the legacy scp protocol (`scp -O`).
// Pure and bounded: the relay feeds each direction's bytes; nothing here touches a socket.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.hpp"

namespace sekisho::worker {

inline constexpr std::size_t kMaxSftpPacket = 256 * 1024 + 1024;  // OpenSSH: 256 KiB payloads
inline constexpr std::size_t kMaxSftpHandles = 256;               // open files tracked per session
inline constexpr std::size_t kMaxSftpRequests = 1024;             // outstanding OPEN/READ requests
inline constexpr std::size_t kMaxOutOfOrder = 4 << 20;            // bytes buffered to hash in order
inline constexpr std::size_t kMaxTransferPath = 4096;

struct TransferEvent {
  std::string path;
  bool upload = false;
  std::uint64_t size = 0;        // end of the highest byte moved (the file's size for whole files)
  std::optional<Digest> sha256;  // nullopt: the bytes could not be followed in file order
  std::string note;              // why there is no hash, or what is uncertain; "" when none
};

// An SFTP request that changes the target without moving file contents through the stream
// (remove, rename, setstat, symlink, hardlink, mkdir, rmdir, copy), with the server's answer.
struct FileChange {
  std::string operation;  // "remove", "rename", "setstat", "symlink", "hardlink", "mkdir", ...
  std::string path;       // the path acted on (for rename/symlink/hardlink/copy: the existing one)
  std::string new_path;   // rename/symlink/hardlink/copy: the path created; "" otherwise
  std::string result;     // "ok", "failed", or "no reply" (the session ended first)
};

// Paths go to the recording and the audit log: bounded, control characters replaced.
std::string clean_transfer_path(std::string_view p);

// SHA-256 over a file's bytes in offset order, fed pieces in any order. Pieces ahead of the
// hashed prefix wait (bounded by `budget`, shared by all files of a session); a piece that
// overlaps what was hashed, starts a gap that is never filled, or does not fit the budget makes
// the hash "not computed" rather than wrong.
class OrderedHash {
 public:
  explicit OrderedHash(std::size_t* budget);
  ~OrderedHash();
  OrderedHash(const OrderedHash&) = delete;
  OrderedHash& operator=(const OrderedHash&) = delete;

  void add(std::uint64_t offset, std::string_view data);
  void lose(const std::string& why);  // the bytes cannot be followed any more
  std::uint64_t size() const { return end_; }
  // The digest over [0, size()), or nullopt with a reason.
  std::optional<Digest> finish(std::string& note);

 private:
  void drain();
  void release();
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  std::size_t* budget_;
  std::uint64_t next_ = 0;  // bytes hashed so far
  std::uint64_t end_ = 0;
  std::map<std::uint64_t, std::string> waiting_;
  std::size_t waiting_bytes_ = 0;
  std::string lost_;
};

// What the session's policy lets through (approval::Rule allow_upload / allow_download).
struct TransferPolicy {
  bool upload = true;
  bool download = true;
};

// The SFTP subsystem, fully parsed: client->target bytes are forwarded in whole packets, each
// checked against the policy by what OpenSSH's sftp-server will do with it (an OPEN without READ
// or WRITE opens read-only; READ and WRITE are allowed per handle, by how it was opened). A
// request the policy denies, or one that could move file contents and that is not understood
// (an unknown type or extension), is answered here with a STATUS and never reaches the target.
// Target->client bytes are forwarded in whole packets too, so that such a reply goes between two
// packets. A packet over kMaxSftpPacket or a malformed one ends the parse ("lost"): from then on
// nothing more is forwarded, and the relay ends the session.
class SftpFilter {
 public:
  explicit SftpFilter(TransferPolicy policy);
  ~SftpFilter();
  SftpFilter(const SftpFilter&) = delete;
  SftpFilter& operator=(const SftpFilter&) = delete;

  void from_client(std::string_view in, std::string& to_target, std::string& to_client);
  void from_target(std::string_view in, std::string& to_client);
  // Files still open and changes still unanswered when the session ends become events.
  void finish();
  std::vector<TransferEvent> take_events();
  std::vector<FileChange> take_changes();
  // "upload PATH" / "download PATH" refused since the last call.
  std::vector<std::string> take_refusals();
  bool lost() const { return !lost_.empty(); }
  const std::string& lost_reason() const { return lost_; }

 private:
  struct File;
  struct Read {
    std::string handle;
    std::uint64_t offset = 0;
  };
  struct Open {
    std::string path;
    bool can_read = false, can_write = false, append = false;
  };
  // False when the packet was answered here and must not be forwarded.
  bool client_packet(std::string_view p, std::string& to_client);
  bool open_packet(std::uint32_t id, std::string_view body, std::string& to_client);
  bool read_packet(std::uint32_t id, std::string_view body, std::string& to_client);
  bool write_packet(std::uint32_t id, std::string_view body, std::string& to_client);
  bool change_packet(std::uint8_t type, std::uint32_t id, std::string_view body,
                     std::string& to_client);
  bool extended_packet(std::uint32_t id, std::string_view body, std::string& to_client);
  bool copy_data(std::uint32_t id, std::string_view body, std::string& to_client);
  bool track_change(std::uint32_t id, FileChange change, std::string& to_client);
  bool deny(std::uint32_t id, std::uint32_t code, const std::string& message,
            std::string& to_client);
  bool refuse(const char* what, std::uint32_t id, std::string_view path, std::string& to_client);
  bool lose_forward(const std::string& why);
  void target_packet(std::string_view p);
  const File* file(std::string_view handle) const;
  void close_file(const std::string& handle, const std::string& note);
  void lose(const std::string& why);

  TransferPolicy policy_;
  std::string client_buf_, target_buf_;
  std::string lost_;
  std::size_t budget_ = kMaxOutOfOrder;
  std::map<std::uint32_t, Open> opens_;
  std::map<std::uint32_t, Read> reads_;
  std::map<std::uint32_t, FileChange> changes_;  // waiting for the server's STATUS
  std::map<std::string, std::unique_ptr<File>> files_;
  std::vector<TransferEvent> events_;
  std::vector<FileChange> changed_;
  std::vector<std::string> refusals_;
};

// The legacy scp protocol of `scp -t PATH` (upload: parse client→target) or `scp -f PATH`
// (download: parse target→client). Observes only; a line over 8 KiB or a malformed one stops it
// (lost), and the relay then ends the session.
class ScpTracker {
 public:
  // Parses the command of an exec request: null unless it is exactly what OpenSSH's scp sends
  // to run its remote end, "scp[ -v][ -r][ -p][ -d] -t|-f [-- ]PATH", with PATH free of
  // anything a shell would read as more than one plain word. Any other command is not a
  // transfer (the relay records it byte for byte).
  static std::unique_ptr<ScpTracker> from_command(std::string_view command);
  ScpTracker(bool upload, std::string path, bool dir_target);
  ScpTracker(const ScpTracker&) = delete;
  ScpTracker& operator=(const ScpTracker&) = delete;

  bool upload() const { return upload_; }
  const std::string& path() const { return path_; }
  void feed(std::string_view in);  // the direction of the file data
  void finish();
  std::vector<TransferEvent> take_events();
  bool lost() const { return !lost_.empty(); }
  const std::string& lost_reason() const { return lost_; }

 private:
  std::string file_path(const std::string& name, std::string& note) const;
  void line(const std::string& l);
  void complete();
  void lose_line();

  bool upload_ = false;
  std::string path_;
  bool dir_target_ = false;
  std::vector<std::string> dirs_;  // D … E nesting
  std::string line_;
  bool in_data_ = false;
  bool skip_ack_ = false;
  std::string note_;
  std::uint64_t remaining_ = 0;
  std::unique_ptr<OrderedHash> hash_;
  std::uint64_t offset_ = 0;
  std::size_t budget_ = kMaxOutOfOrder;
  std::string current_;  // path of the file being transferred
  std::vector<TransferEvent> events_;
  std::string lost_;
};

}  // namespace sekisho::worker
