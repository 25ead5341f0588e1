// The byte layout of a .skr file: header, chunk frames, records and the closing record, with the
// fixed limits every reader applies. No I/O and no keys here; see docs/recordings.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/crypto.hpp"
#include "base/result.hpp"
#include "recorder/recording.hpp"

namespace sekisho::recorder::format {

// "SKR" + a byte that is not text + CR LF + ^Z + LF: a transfer that mangles line endings or
// text-mode reads is detected at the first bytes, as PNG does.
inline constexpr std::string_view kMagic{"SKR\x89\r\n\x1a\n", 8};
// Version 2 added the seal (a closing record the core writes for a session cut short); the chunk
// and closing formats are otherwise those of version 1. Readers accept every version from
// kOldestVersion to kVersion; writers write kVersion.
inline constexpr std::uint16_t kVersion = 2;
inline constexpr std::uint16_t kOldestVersion = 1;

// Fixed limits: a file handed around by people is never trusted to size our allocations.
inline constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
inline constexpr std::size_t kMaxFieldBytes = 4096;
inline constexpr std::size_t kMaxWrappedKeyBytes = 256;
inline constexpr std::size_t kMaxRecordBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxChunkPlain = 2 * kMaxRecordBytes;
inline constexpr std::size_t kMaxChunkCipher = kMaxChunkPlain + kMaxChunkPlain / 64 + 1024;
inline constexpr std::size_t kMaxSignatureBytes = 256;
inline constexpr std::size_t kTagBytes = 16;

inline constexpr std::uint8_t kChunkType = 'C';
inline constexpr std::uint8_t kCloseType = 'E';
inline constexpr std::uint8_t kSealType = 'S';  // version 2: a closing record by the core

// type(1) index(8) first_us(8) last_us(8) records(4) plain_len(4) cipher_len(4) prev_hash(32)
inline constexpr std::size_t kFrameHeaderBytes = 1 + 8 + 8 + 8 + 4 + 4 + 4 + 32;
// type(1) chunks(8) records(8) end_us(8) size_bytes(8) final_hash(32) sig_len(2)
inline constexpr std::size_t kCloseFixedBytes = 1 + 8 + 8 + 8 + 8 + 32 + 2;
// The closing record with the largest signature we accept: what the writer reserves under a cap.
inline constexpr std::size_t kCloseMaxBytes = kCloseFixedBytes + kMaxSignatureBytes;
// type(1) reason(1) chunks(8) end_us(8) size_bytes(8) final_hash(32) sealed_at_unix_us(8)
// cut_bytes(8) sig_len(2)
inline constexpr std::size_t kSealFixedBytes = 1 + 1 + 8 + 8 + 8 + 32 + 8 + 8 + 2;
// The longest record that may end a file, of either kind: what readers accept after the chunks.
inline constexpr std::size_t kClosingMaxBytes =
    (kSealFixedBytes > kCloseFixedBytes ? kSealFixedBytes : kCloseFixedBytes) + kMaxSignatureBytes;

// What a chunk says about itself in the clear. Authenticated as AES-GCM associated data, so the
// fields cannot be changed without the data key noticing, and hashed into the chain, so they
// cannot be changed without verify noticing.
struct FrameHeader {
  std::uint64_t index = 0;
  std::int64_t first_us = 0;
  std::int64_t last_us = 0;
  std::uint32_t records = 0;
  std::uint32_t plain_len = 0;
  std::uint32_t cipher_len = 0;  // includes the 16-byte GCM tag
  Digest prev_hash{};
};

// The record that ends a file: the worker's closing record ('E'), or the core's seal ('S', with
// `seal` set and no record count: the core checks the chain without decrypting the chunks).
struct Closing {
  std::uint64_t chunks = 0;
  std::uint64_t records = 0;  // 0 in a seal
  std::int64_t end_us = 0;
  std::uint64_t size_bytes = 0;  // offset of the closing record: the bytes it vouches for
  Digest final_hash{};
  Bytes signature;
  std::optional<Seal> seal;
};

// The parsed plaintext header, with the bytes it came from (they start the hash chain).
struct FileHeader {
  Header header;
  Bytes wrapped_key;
  std::string signer_public_pem;
  Bytes raw;  // magic through the last header byte
};

// --- Primitive encoding (big-endian integers, LEB128 varints). ---
void put_u16(Bytes& out, std::uint16_t v);
void put_u32(Bytes& out, std::uint32_t v);
void put_u64(Bytes& out, std::uint64_t v);
void put_varint(Bytes& out, std::uint64_t v);
void put_blob(Bytes& out, std::string_view s);  // u32 length + bytes

// Reads from a bounded view; every get fails (returns false) instead of reading past the end.
class Cursor {
 public:
  explicit Cursor(ByteView data) : data_(data) {}
  bool u8(std::uint8_t& v);
  bool u16(std::uint16_t& v);
  bool u32(std::uint32_t& v);
  bool u64(std::uint64_t& v);
  bool i64(std::int64_t& v);
  bool varint(std::uint64_t& v);
  bool bytes(std::size_t n, ByteView& v);
  bool blob(std::size_t max, std::string& v);  // u32 length, at most `max`
  bool digest(Digest& d);
  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t position() const { return pos_; }

 private:
  ByteView data_;
  std::size_t pos_ = 0;
};

// --- Header. ---
Bytes encode_header(const Header& h, ByteView wrapped_key, std::string_view signer_pem);
// Parses the header from the start of `data` (which may hold more); consumed = header length.
Result<FileHeader> decode_header(ByteView data);
// Reads the u32 header length right after magic and version, to know how much to read.
Result<std::size_t> header_length(ByteView first14);
inline constexpr std::size_t kHeaderPrefixBytes = 8 + 2 + 4;
// The start of the chain: binds every chunk to this header (session, user, keys).
Digest header_hash(ByteView raw_header);

// --- Chunk frames. ---
Bytes encode_frame_header(const FrameHeader& f);
// Parses and checks a frame header (type 'C'); `what` names it in errors ("chunk 4").
Result<FrameHeader> decode_frame_header(ByteView data, const std::string& what);
// hash(frame header ‖ ciphertext): what the next chunk names as previous.
Digest chunk_hash(ByteView frame_header, ByteView ciphertext);

// --- Records inside a chunk's plaintext. ---
void encode_record(Bytes& out, const Record& r, std::int64_t prev_us);
// Decodes all records of a chunk, checking them against its frame header.
Result<std::vector<Record>> decode_records(ByteView plain, const FrameHeader& f,
                                           const std::string& what);
// Bytes a record takes in a chunk (upper bound, used for queue and cap accounting).
std::size_t record_size_bound(const Record& r);

// --- Closing record (the worker's 'E' or the core's seal 'S'). ---
// The message the signature covers: a domain label, the chain's start and the closing fields.
// A seal has its own label and layout, so that a seal's signature can never pass for a worker's
// closing record, nor the other way round (nor for an audit checkpoint: other labels again).
Bytes closing_message(const Digest& start, const Closing& c);
// Reads a closing_message() back (its chain start and fields; no signature). kInvalidArgument for
// anything closing_message() could not have written.
Result<std::pair<Digest, Closing>> decode_closing_message(ByteView message);
Bytes encode_closing(const Closing& c);
Result<Closing> decode_closing(ByteView data);
// Bytes of a closing record of `type` before its signature ('E' or 'S'; 0 for another byte).
std::size_t closing_fixed_bytes(std::uint8_t type);
// "gateway stopped" / "worker died".
std::string seal_reason_text(SealReason reason);

std::string hex(const Digest& d);
// First 16 hex of SHA-256 over the public key PEM with surrounding whitespace removed.
std::string key_fingerprint(std::string_view public_pem);

}  // namespace sekisho::recorder::format
