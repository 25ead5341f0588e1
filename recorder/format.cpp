#include "recorder/format.hpp"

#include <algorithm>
#include <cstring>

namespace sekisho::recorder::format {

namespace {

constexpr std::string_view kChainLabel = "sekisho recording v1 chain";
constexpr std::string_view kCloseLabel = "sekisho recording v1 close";
// The core's seal: another label, so that no seal signature can be taken for a closing record's.
constexpr std::string_view kSealLabel = "sekisho recording v2 seal by the core";
constexpr std::size_t kTransferFixed = 1 + 8 + 32;

bool known_kind(std::uint8_t k) {
  switch (static_cast<RecordKind>(k)) {
    case RecordKind::kOutput:
    case RecordKind::kInput:
    case RecordKind::kResize:
    case RecordKind::kMarker:
    case RecordKind::kFileTransfer:
    case RecordKind::kRdpRect:
    case RecordKind::kRdpKeyFrame:
    case RecordKind::kRdpKey:
    case RecordKind::kRdpMouse:
      return true;
  }
  return false;
}

Result<Record> payload_to_record(RecordKind kind, ByteView p, const std::string& what) {
  Record r;
  r.kind = kind;
  Cursor c(p);
  if (kind == RecordKind::kResize) {
    if (p.size() != 4 || !c.u16(r.cols) || !c.u16(r.rows)) {
      return fail(ErrorCode::kCorrupt, what + ": malformed resize record");
    }
  } else if (kind == RecordKind::kFileTransfer) {
    std::uint8_t up = 0;
    ByteView path;
    if (p.size() < kTransferFixed || p.size() - kTransferFixed > kMaxFieldBytes || !c.u8(up) ||
        !c.u64(r.transfer.size) || !c.digest(r.transfer.sha256) || !c.bytes(c.remaining(), path) ||
        up > 1) {
      return fail(ErrorCode::kCorrupt, what + ": malformed file transfer record");
    }
    r.transfer.upload = up == 1;
    r.transfer.path.assign(reinterpret_cast<const char*>(path.data()), path.size());
  } else {
    r.data.assign(reinterpret_cast<const char*>(p.data()), p.size());
  }
  return r;
}

}  // namespace

void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_u32(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

void put_u64(Bytes& out, std::uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

void put_varint(Bytes& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_blob(Bytes& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

bool Cursor::u8(std::uint8_t& v) {
  if (remaining() < 1) return false;
  v = data_[pos_++];
  return true;
}

bool Cursor::u16(std::uint16_t& v) {
  if (remaining() < 2) return false;
  v = static_cast<std::uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
  pos_ += 2;
  return true;
}

bool Cursor::u32(std::uint32_t& v) {
  if (remaining() < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | data_[pos_++];
  return true;
}

bool Cursor::u64(std::uint64_t& v) {
  if (remaining() < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | data_[pos_++];
  return true;
}

bool Cursor::i64(std::int64_t& v) {
  std::uint64_t u = 0;
  if (!u64(u)) return false;
  v = static_cast<std::int64_t>(u);
  return true;
}

bool Cursor::varint(std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    std::uint8_t b = 0;
    if (!u8(b)) return false;
    // The tenth byte may only carry the top bit of a 64-bit value.
    if (shift == 63 && b > 1) return false;
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

bool Cursor::bytes(std::size_t n, ByteView& v) {
  if (remaining() < n) return false;
  v = data_.subspan(pos_, n);
  pos_ += n;
  return true;
}

bool Cursor::blob(std::size_t max, std::string& v) {
  std::uint32_t n = 0;
  ByteView b;
  if (!u32(n) || n > max || !bytes(n, b)) return false;
  v.assign(reinterpret_cast<const char*>(b.data()), b.size());
  return true;
}

bool Cursor::digest(Digest& d) {
  ByteView b;
  if (!bytes(d.size(), b)) return false;
  std::memcpy(d.data(), b.data(), d.size());
  return true;
}

Bytes encode_header(const Header& h, ByteView wrapped_key, std::string_view signer_pem) {
  Bytes body;
  for (const std::string* s :
       {&h.session_id, &h.user, &h.host, &h.account, &h.request_id, &h.protocol}) {
    put_blob(body, *s);
  }
  put_u64(body, static_cast<std::uint64_t>(h.start_unix_us));
  put_u16(body, h.cols);
  put_u16(body, h.rows);
  put_blob(body, {reinterpret_cast<const char*>(wrapped_key.data()), wrapped_key.size()});
  put_blob(body, signer_pem);

  Bytes out(kMagic.begin(), kMagic.end());
  put_u16(out, kVersion);
  put_u32(out, static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Result<std::size_t> header_length(ByteView first) {
  if (first.size() < kHeaderPrefixBytes ||
      std::memcmp(first.data(), kMagic.data(), kMagic.size()) != 0) {
    return fail(ErrorCode::kInvalidArgument, "not a Sekisho recording (bad magic)");
  }
  Cursor c(first.subspan(kMagic.size()));
  std::uint16_t version = 0;
  std::uint32_t len = 0;
  c.u16(version);
  c.u32(len);
  if (version < kOldestVersion || version > kVersion) {
    return fail(ErrorCode::kUnsupported,
                "recording format version " + std::to_string(version) + " is not supported");
  }
  if (len > kMaxHeaderBytes) {
    return fail(ErrorCode::kCorrupt, "recording header longer than the 64 KiB limit");
  }
  return kHeaderPrefixBytes + len;
}

Result<FileHeader> decode_header(ByteView data) {
  auto total = header_length(data);
  if (!total) return tl::make_unexpected(total.error());
  if (data.size() < *total) return fail(ErrorCode::kCorrupt, "recording header is cut short");
  FileHeader fh;
  Header& h = fh.header;
  Cursor c(data.subspan(kHeaderPrefixBytes, *total - kHeaderPrefixBytes));
  std::uint64_t start = 0;
  std::string wrapped;
  bool good = true;
  for (std::string* s : {&h.session_id, &h.user, &h.host, &h.account, &h.request_id, &h.protocol}) {
    good = good && c.blob(kMaxFieldBytes, *s);
  }
  good = good && c.u64(start) && c.u16(h.cols) && c.u16(h.rows) &&
         c.blob(kMaxWrappedKeyBytes, wrapped) && c.blob(kMaxFieldBytes, fh.signer_public_pem);
  if (!good) {
    return fail(ErrorCode::kCorrupt, "recording header field out of bounds (limit 4096 bytes)");
  }
  if (c.remaining() != 0) return fail(ErrorCode::kCorrupt, "recording header has trailing bytes");
  h.start_unix_us = static_cast<std::int64_t>(start);
  fh.wrapped_key.assign(wrapped.begin(), wrapped.end());
  fh.raw.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(*total));
  return fh;
}

Digest header_hash(ByteView raw_header) {
  Bytes m(kChainLabel.begin(), kChainLabel.end());
  m.insert(m.end(), raw_header.begin(), raw_header.end());
  return sha256(m);
}

Bytes encode_frame_header(const FrameHeader& f) {
  Bytes out;
  out.reserve(kFrameHeaderBytes);
  out.push_back(kChunkType);
  put_u64(out, f.index);
  put_u64(out, static_cast<std::uint64_t>(f.first_us));
  put_u64(out, static_cast<std::uint64_t>(f.last_us));
  put_u32(out, f.records);
  put_u32(out, f.plain_len);
  put_u32(out, f.cipher_len);
  out.insert(out.end(), f.prev_hash.begin(), f.prev_hash.end());
  return out;
}

Result<FrameHeader> decode_frame_header(ByteView data, const std::string& what) {
  Cursor c(data);
  FrameHeader f;
  std::uint8_t type = 0;
  if (!c.u8(type) || type != kChunkType || !c.u64(f.index) || !c.i64(f.first_us) ||
      !c.i64(f.last_us) || !c.u32(f.records) || !c.u32(f.plain_len) || !c.u32(f.cipher_len) ||
      !c.digest(f.prev_hash)) {
    return fail(ErrorCode::kCorrupt, what + ": not a chunk frame");
  }
  if (f.plain_len > kMaxChunkPlain || f.cipher_len > kMaxChunkCipher || f.cipher_len < kTagBytes) {
    return fail(ErrorCode::kCorrupt, what + ": chunk length beyond the limit");
  }
  // Each record takes at least three bytes (kind, delta, length).
  if (f.records == 0 || f.records > f.plain_len / 3) {
    return fail(ErrorCode::kCorrupt, what + ": impossible record count");
  }
  if (f.first_us < 0 || f.last_us < f.first_us) {
    return fail(ErrorCode::kCorrupt, what + ": timestamps out of order");
  }
  return f;
}

Digest chunk_hash(ByteView frame_header, ByteView ciphertext) {
  CHandle<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
  Digest d{};
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), frame_header.data(), frame_header.size());
  EVP_DigestUpdate(ctx.get(), ciphertext.data(), ciphertext.size());
  EVP_DigestFinal_ex(ctx.get(), d.data(), &len);
  return d;
}

void encode_record(Bytes& out, const Record& r, std::int64_t prev_us) {
  out.push_back(static_cast<std::uint8_t>(r.kind));
  put_varint(out, static_cast<std::uint64_t>(r.at_us - prev_us));
  if (r.kind == RecordKind::kResize) {
    put_varint(out, 4);
    put_u16(out, r.cols);
    put_u16(out, r.rows);
  } else if (r.kind == RecordKind::kFileTransfer) {
    put_varint(out, kTransferFixed + r.transfer.path.size());
    out.push_back(r.transfer.upload ? 1 : 0);
    put_u64(out, r.transfer.size);
    out.insert(out.end(), r.transfer.sha256.begin(), r.transfer.sha256.end());
    out.insert(out.end(), r.transfer.path.begin(), r.transfer.path.end());
  } else {
    put_varint(out, r.data.size());
    out.insert(out.end(), r.data.begin(), r.data.end());
  }
}

std::size_t record_size_bound(const Record& r) {
  std::size_t payload = r.data.size();
  if (r.kind == RecordKind::kResize) payload = 4;
  if (r.kind == RecordKind::kFileTransfer) payload = kTransferFixed + r.transfer.path.size();
  std::size_t len_bytes = 1;
  for (std::size_t n = payload; n >= 0x80; n >>= 7) ++len_bytes;
  return 1 + 10 + len_bytes + payload;  // kind, largest time delta, length, payload
}

Result<std::vector<Record>> decode_records(ByteView plain, const FrameHeader& f,
                                           const std::string& what) {
  std::vector<Record> out;
  out.reserve(f.records);
  Cursor c(plain);
  std::int64_t at = f.first_us;
  while (c.remaining() > 0) {
    std::uint8_t kind = 0;
    std::uint64_t delta = 0, len = 0;
    ByteView payload;
    if (!c.u8(kind) || !c.varint(delta) || !c.varint(len) || len > kMaxRecordBytes ||
        !c.bytes(static_cast<std::size_t>(len), payload)) {
      return fail(ErrorCode::kCorrupt,
                  what + ": record " + std::to_string(out.size()) + " out of bounds");
    }
    if (delta > static_cast<std::uint64_t>(f.last_us - at)) {
      return fail(ErrorCode::kCorrupt, what + ": record time beyond the chunk's last time");
    }
    at += static_cast<std::int64_t>(delta);
    if (out.size() == f.records) {
      return fail(ErrorCode::kCorrupt, what + ": more records than the frame says");
    }
    if (!known_kind(kind)) {
      return fail(ErrorCode::kCorrupt, what + ": unknown record kind " + std::to_string(kind));
    }
    auto r = payload_to_record(static_cast<RecordKind>(kind), payload, what);
    if (!r) return tl::make_unexpected(r.error());
    r->at_us = at;
    out.push_back(std::move(*r));
  }
  if (out.size() != f.records || at != f.last_us) {
    return fail(ErrorCode::kCorrupt, what + ": records do not match the frame header");
  }
  return out;
}

Bytes closing_message(const Digest& start, const Closing& c) {
  const std::string_view label = c.seal ? kSealLabel : kCloseLabel;
  Bytes m(label.begin(), label.end());
  m.insert(m.end(), start.begin(), start.end());
  Closing unsigned_copy = c;
  unsigned_copy.signature.clear();
  Bytes body = encode_closing(unsigned_copy);
  m.insert(m.end(), body.begin(), body.end() - 2);  // without the signature length
  return m;
}

Result<std::pair<Digest, Closing>> decode_closing_message(ByteView message) {
  const std::size_t fixed = kCloseLabel.size() + sizeof(Digest);
  if (message.size() != fixed + kCloseFixedBytes - 2 ||
      !std::equal(kCloseLabel.begin(), kCloseLabel.end(), message.begin())) {
    return fail(ErrorCode::kInvalidArgument, "not a recording closing message");
  }
  std::pair<Digest, Closing> out;
  std::copy_n(message.begin() + static_cast<std::ptrdiff_t>(kCloseLabel.size()), sizeof(Digest),
              out.first.begin());
  Bytes body(message.begin() + static_cast<std::ptrdiff_t>(fixed), message.end());
  body.push_back(0);  // an empty signature: the message ends where the signature length starts
  body.push_back(0);
  auto closing = decode_closing(body);
  // Only a worker's closing record: the core's seal is never signed on a worker's behalf.
  if (!closing || closing->seal) {
    return fail(ErrorCode::kInvalidArgument, "not a recording closing message");
  }
  out.second = std::move(*closing);
  return out;
}

Bytes encode_closing(const Closing& c) {
  Bytes out;
  out.push_back(c.seal ? kSealType : kCloseType);
  if (c.seal) out.push_back(static_cast<std::uint8_t>(c.seal->reason));
  put_u64(out, c.chunks);
  if (!c.seal) put_u64(out, c.records);
  put_u64(out, static_cast<std::uint64_t>(c.end_us));
  put_u64(out, c.size_bytes);
  out.insert(out.end(), c.final_hash.begin(), c.final_hash.end());
  if (c.seal) {
    put_u64(out, static_cast<std::uint64_t>(c.seal->sealed_at_unix_us));
    put_u64(out, c.seal->cut_bytes);
  }
  put_u16(out, static_cast<std::uint16_t>(c.signature.size()));
  out.insert(out.end(), c.signature.begin(), c.signature.end());
  return out;
}

Result<Closing> decode_closing(ByteView data) {
  Cursor cur(data);
  Closing c;
  std::uint8_t type = 0, reason = 0;
  std::uint16_t sig_len = 0;
  ByteView sig;
  bool good = cur.u8(type) && (type == kCloseType || type == kSealType);
  if (good && type == kSealType) {
    good = cur.u8(reason) && (reason == static_cast<std::uint8_t>(SealReason::kGatewayStopped) ||
                              reason == static_cast<std::uint8_t>(SealReason::kWorkerDied));
    if (good) c.seal = Seal{static_cast<SealReason>(reason), 0, 0};
  }
  good = good && cur.u64(c.chunks) && (c.seal || cur.u64(c.records)) && cur.i64(c.end_us) &&
         cur.u64(c.size_bytes) && cur.digest(c.final_hash);
  if (good && c.seal) good = cur.i64(c.seal->sealed_at_unix_us) && cur.u64(c.seal->cut_bytes);
  if (!good || !cur.u16(sig_len) || sig_len > kMaxSignatureBytes || !cur.bytes(sig_len, sig)) {
    return fail(ErrorCode::kCorrupt,
                type == kSealType ? "malformed seal" : "malformed closing record");
  }
  if (cur.remaining() != 0) {
    return fail(ErrorCode::kCorrupt, "bytes after the closing record");
  }
  c.signature.assign(sig.begin(), sig.end());
  return c;
}

std::size_t closing_fixed_bytes(std::uint8_t type) {
  return type == kCloseType ? kCloseFixedBytes : type == kSealType ? kSealFixedBytes : 0;
}

std::string seal_reason_text(SealReason reason) {
  return reason == SealReason::kWorkerDied ? "worker died" : "gateway stopped";
}

std::string hex(const Digest& d) { return hex_encode(d); }

std::string key_fingerprint(std::string_view pem) {
  const auto first = pem.find_first_not_of(" \t\r\n");
  const auto last = pem.find_last_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  return hex_encode(sha256(as_bytes(pem.substr(first, last - first + 1)))).substr(0, 16);
}

}  // namespace sekisho::recorder::format
