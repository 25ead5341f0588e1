// The .skr recording: what a session recording holds, and the writer, reader and verifier of the
// file (DESIGN.md "Recordings"). The format itself is described in docs/recordings.md.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.hpp"
#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho::recorder {

// What one record holds. Values are part of the file format.
enum class RecordKind : std::uint8_t {
  kOutput = 1,        // bytes the target sent to the user's terminal (stdout and stderr)
  kInput = 2,         // bytes the user typed
  kResize = 3,        // terminal size change: cols, rows
  kMarker = 4,        // a policy event in words ("window ends in 5 min"); UTF-8 text
  kFileTransfer = 5,  // a file that crossed the gateway: see FileTransfer
  kRdpRect = 16,      // RDP: a changed screen rectangle (payload defined by the RDP issue)
  kRdpKeyFrame = 17,  // RDP: a full screen image
  kRdpKey = 18,       // RDP: a keyboard event
  kRdpMouse = 19,     // RDP: a mouse event
};

struct FileTransfer {
  bool upload = false;  // true: user → target; false: target → user
  std::string path;     // as the client named it
  std::uint64_t size = 0;
  Digest sha256{};
};

struct Record {
  RecordKind kind = RecordKind::kOutput;
  // Time since the recording started, in microseconds. The writer stamps records whose caller
  // leaves this at -1 with its own monotonic clock.
  std::int64_t at_us = -1;
  std::string data;                  // kOutput/kInput/RDP payloads: raw bytes; kMarker: text
  std::uint16_t cols = 0, rows = 0;  // kResize
  FileTransfer transfer;             // kFileTransfer
};

// What the recording is of; stored unencrypted at the start of the file, so that `verify` can
// name the session without any key.
struct Header {
  std::string session_id;
  std::string user;        // gateway user
  std::string host;        // target host name
  std::string account;     // target account
  std::string request_id;  // approved request the session ran under ("" when none)
  std::string protocol;    // "ssh" or "rdp"
  std::int64_t start_unix_us = 0;
  std::uint16_t cols = 80, rows = 24;
};

// The per-recording data key, in the clear (held by whoever writes or reads) and wrapped (stored
// in the file). The key that wraps it (the "recording key") belongs to the core; see wrap_data_key.
struct DataKey {
  Secret key;  // 32 bytes, AES-256-GCM
  Bytes wrapped;
};

// Creates a fresh data key and wraps it with `recording_key` (32 bytes; AES-256-GCM with the
// session id as associated data, so a wrapped key cannot be moved to another recording).
[[nodiscard]] Result<DataKey> new_data_key(const Secret& recording_key,
                                           std::string_view session_id);
[[nodiscard]] Result<Secret> unwrap_data_key(const Secret& recording_key,
                                             std::string_view session_id, ByteView wrapped);

struct WriterOptions {
  // A chunk is sealed when it holds this many bytes of records or when flush_interval passed
  // since its first record, whichever comes first.
  std::size_t chunk_bytes = 64 * 1024;
  std::chrono::milliseconds flush_interval{1000};
  // Records accepted but not yet written; append() refuses beyond this instead of blocking.
  std::size_t queue_bytes = 16 * 1024 * 1024;
  // Largest recording file; 0 means no limit. Reaching it ends recording
  // (AppendStatus::kCapReached).
  std::uint64_t max_file_bytes = 0;
};

enum class AppendStatus {
  kOk,
  kQueueFull,   // the writer cannot keep up; the record was not taken
  kCapReached,  // max_file_bytes reached; nothing more is recorded
  kFailed,      // a write failed (disk full, I/O error); see Writer::failure()
  kClosed,      // close() was called
};

// Signs the closing record's message with the gateway's Ed25519 key. A session worker does not
// hold that key: it passes a function that asks the core.
using SignFunction = std::function<Result<Bytes>(ByteView message)>;

struct RecordingSummary {
  std::string final_hash;  // hex SHA-256 that the closing record signs
  std::uint64_t size_bytes = 0;
  std::int64_t duration_us = 0;
  std::uint64_t chunks = 0;
};

// Writes one recording. append() never blocks: records go to a bounded queue that a writer thread
// seals into chunks (zstd, then AES-256-GCM), each carrying the hash of the previous chunk, and
// writes with one pwrite per chunk; fdatasync follows at most flush_interval after a write (and
// at close), so a bulk stream is not bound by the disk's sync latency. A process killed at any
// moment leaves a file whose complete chunks verify and replay. The seek and text indexes are
// written beside the file at close and rebuilt by the reader from the chunks when missing.
class Writer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Writer>> create(const std::filesystem::path& path,
                                                              const Header& header, DataKey key,
                                                              std::string signer_public_pem,
                                                              WriterOptions options = {});
  // Writes into `fd`, an empty regular file open for writing that the caller created (the core
  // creates a session's file and passes the descriptor to a worker that cannot open the
  // recordings directory). Takes ownership of `fd` and closes it on every path. `name` only names
  // the file in errors. Same chunks, syncs and crash guarantee as create(), but no index files:
  // the reader rebuilds the seek index from the chunk frames and search decodes every chunk, and
  // the caller syncs the directory entry it created.
  [[nodiscard]] static Result<std::unique_ptr<Writer>> create_at(int fd, const std::string& name,
                                                                 const Header& header, DataKey key,
                                                                 std::string signer_public_pem,
                                                                 WriterOptions options = {});
  virtual ~Writer() = default;
  // Thread-safe; never blocks on I/O. Anything but kOk means the record was not taken and the
  // session must be ended (the policy default: no unrecorded privileged session).
  virtual AppendStatus append(Record record) = 0;
  // Thread-safe: how many bytes of records append() takes now before kQueueFull (each record
  // costs its payload plus at most 16 bytes). A relay reads no more than this from the session, so
  // a session faster than the disk slows to the recorder's pace instead of being ended.
  virtual std::size_t queue_room() const = 0;
  // The first write error, if any (one line, no secrets).
  virtual std::optional<Error> failure() const = 0;
  // Drains the queue, writes the closing record signed by `sign`, syncs the file and the indexes.
  virtual Result<RecordingSummary> close(const SignFunction& sign) = 0;
};

// Where a text search matched.
struct SearchHit {
  std::int64_t at_us = 0;                 // time of the record holding the match
  RecordKind kind = RecordKind::kOutput;  // shown (kOutput) or typed (kInput)
  std::string context;                    // the line around the match, ANSI escapes removed, UTF-8
};

// Reads a recording with its data key. Every length and count in the file is checked against the
// file size and fixed limits before use. A file cut short (crashed writer) opens; truncated()
// says after which chunk.
class Reader {
 public:
  using KeyUnwrapper = std::function<Result<Secret>(const Header& header, ByteView wrapped)>;
  [[nodiscard]] static Result<std::unique_ptr<Reader>> open(const std::filesystem::path& path,
                                                            const KeyUnwrapper& unwrap);
  virtual ~Reader() = default;
  virtual const Header& header() const = 0;
  virtual std::int64_t duration_us() const = 0;  // time of the last record
  virtual std::uint64_t chunk_count() const = 0;
  // Set when the file ends without a closing record: the number of complete chunks before the cut.
  virtual std::optional<std::uint64_t> truncated_after() const = 0;
  // Calls `visit` for each record with at_us >= from_us, in order, until it returns false.
  // Starts at the chunk the seek index names for from_us: earlier chunks are not decoded.
  [[nodiscard]] virtual Result<void> replay(std::int64_t from_us,
                                            const std::function<bool(const Record&)>& visit) = 0;
  // Case-sensitive search of what was shown and typed (ANSI escapes removed), through the text
  // index; decodes only the chunks that can hold a match. At most `limit` hits.
  [[nodiscard]] virtual Result<std::vector<SearchHit>> search(std::string_view text,
                                                              std::size_t limit) = 0;
  // Chunks decoded so far (tests check that seek and search skip the rest).
  virtual std::uint64_t decoded_chunks() const = 0;
  // Writes the seek and text index files beside a closed recording, as Writer::create's close()
  // does: for a recording written through create_at, whose writer could not create files. Decodes
  // every chunk once. kInvalidArgument for a recording without its closing record.
  [[nodiscard]] virtual Result<void> write_indexes() = 0;
};

// Why the core sealed a recording whose worker could not close it. Values are part of the format.
enum class SealReason : std::uint8_t {
  kGatewayStopped = 1,  // the core stopped (killed, crashed, power lost) while the session ran
  kWorkerDied = 2,      // the session's worker died alone without closing the recording
};

// What a seal (the core's closing record, format version 2) says beyond a closing record.
struct Seal {
  SealReason reason = SealReason::kGatewayStopped;
  std::int64_t sealed_at_unix_us = 0;  // when the core sealed the file
  std::uint64_t cut_bytes = 0;         // bytes of a torn last write the core cut before sealing
};

enum class SignatureStatus { kValid, kInvalid, kMissing /* no closing record */, kWrongKey };

// Checks a recording without any secret: structure, the chunk hash chain, and the closing
// record's signature (with `public_key_pem`, or else with the public key the file names, which
// proves integrity but not authorship: the report says so).
struct VerifyReport {
  bool chain_ok = false;
  std::uint64_t chunks = 0;
  std::optional<std::uint64_t> truncated_after;
  SignatureStatus signature = SignatureStatus::kMissing;
  bool key_pinned = false;  // the signature was checked against a key the caller supplied
  std::string signer;       // fingerprint of the key that signed
  std::int64_t duration_us = 0;
  std::uint64_t size_bytes = 0;
  std::string final_hash;  // hex, as the audit log records it
  // Set when the file ends in the core's seal (the session was cut; what is there is exactly what
  // the gateway recorded): why, when, and the time of the last record (start + duration_us).
  std::optional<Seal> seal;
  // Bytes from the start through the last complete chunk: where a closing record or seal starts.
  std::uint64_t chain_end_offset = 0;
  Header header;
  std::vector<std::string> problems;  // one line each: "chunk 7: hash chain broken", …
  bool ok() const { return chain_ok && signature == SignatureStatus::kValid && problems.empty(); }
};
[[nodiscard]] Result<VerifyReport> verify(const std::filesystem::path& path,
                                          std::optional<std::string> public_key_pem);

// Whether `message` is exactly the closing message (what a closing record's signature covers) of
// the recording at `path` as it stands: the hash chain from the header through the last complete
// chunk verifies, the file ends right after that chunk (not closed yet, not cut), and `message`
// names that chain start, chunk count, chain end, size and last chunk's end time. Only the record
// count, which the frames do not show unopened, is taken from `message`. kPermissionDenied (with
// the reason) when it is not; kIo/kNotFound when the file cannot be read. What the core checks
// before it signs a worker's closing record (docs/ssh_gateway.md "Worker privileges").
[[nodiscard]] Result<void> check_closing_message(const std::filesystem::path& path,
                                                 ByteView message);

// The process that holds a recording's writer lock: a Writer takes a POSIX write lock on its file
// for as long as it lives (the kernel drops it when the process dies), so a pid here is a process
// that may still write. nullopt when nobody holds it; -1 for a holder without a pid (a sealer's
// open-file lock). Blocking; any thread.
[[nodiscard]] Result<std::optional<pid_t>> recording_writer(const std::filesystem::path& path);

// What seal_recording did.
struct SealOutcome {
  RecordingSummary summary;     // of the file as it now ends (size includes the seal)
  bool already_closed = false;  // the file had a valid closing record: nothing was written
  Seal seal;                    // what was written (unless already_closed)
};

// Ends a recording whose writer is gone without closing it: checks that no writer holds the file
// (kAlreadyExists when one does: the caller stops it first), verifies the hash chain through the
// last complete chunk, cuts a torn last write, and appends a seal signed with `signer` naming
// `reason`, the chain end, the time of the last record, `sealed_at_unix_us` and the bytes cut.
// The core signs only what it verified itself: a file whose chain breaks, or that ends in an
// invalid closing record, is left as it is (kCorrupt, naming the problem). A file already closed
// by a valid closing record (signed by `signer`) is left as it is too (already_closed). Blocking;
// not for a file another thread of this process writes.
[[nodiscard]] Result<SealOutcome> seal_recording(const std::filesystem::path& path,
                                                 SealReason reason, std::int64_t sealed_at_unix_us,
                                                 const SigningKey& signer);

// The header of a recording, read without any key (listing, auditing). Checked like open() does.
[[nodiscard]] Result<Header> read_header(const std::filesystem::path& path);

// The files written beside a recording at close: "<path>.seek" (time → chunk offset, not
// encrypted: no session content) and "<path>.text" (the text index, encrypted with the data key).
// Deleting them loses nothing: the reader rebuilds the seek index from the chunk frames, and
// search falls back to decoding every chunk.
std::filesystem::path seek_index_path(const std::filesystem::path& recording);
std::filesystem::path text_index_path(const std::filesystem::path& recording);

// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): "o", "i", "r" and "m" events.
// Invalid UTF-8 is replaced (U+FFFD) in the export only. File transfers become "m" events.
[[nodiscard]] Result<void> export_asciicast(Reader& reader, std::ostream& out);

}  // namespace sekisho::recorder
