#include "recorder/text_index.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>

#include "recorder/format.hpp"

namespace sekisho::recorder {

namespace {

constexpr std::size_t kContextBytes = 80;
constexpr std::uint64_t kMaxSegments = 1ull << 32;

// Length of the UTF-8 sequence starting at s[i] if valid and complete; 0 if invalid; -1 if it
// could become valid with more bytes (cut at the end of s).
[[gnu::always_inline]] inline int utf8_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  int n = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;  // no UTF-16 surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  for (int k = 1; k < n; ++k) {
    if (i + static_cast<std::size_t>(k) >= s.size()) return -1;
    const auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
    const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xbf;
    if (b < l || b > h) return 0;
  }
  return n;
}

}  // namespace

std::string sanitize_utf8(std::string_view piece, std::string* carry) {
  std::string joined;
  std::string_view in = piece;
  if (carry != nullptr && !carry->empty()) {
    joined = *carry + std::string(piece);
    in = joined;
    carry->clear();
  }
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const int n = utf8_len(in, i);
    if (n > 0) {
      out.append(in.substr(i, static_cast<std::size_t>(n)));
      i += static_cast<std::size_t>(n);
    } else if (n < 0 && carry != nullptr) {
      carry->assign(in.substr(i));
      break;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

void EscapeStripper::text(char ch, std::string& out, bool after_cr) {
  const auto c = static_cast<unsigned char>(ch);
  if (c == 0x1b) {
    state_ = State::kEsc;
  } else if (c == '\r' || c == '\n') {
    // CR LF and a typed CR each end one line.
    if (c == '\r' || !after_cr) out.push_back('\n');
  } else if (c == '\t') {
    out.push_back(' ');
  } else if (c >= 0x20 && c != 0x7f) {
    out.push_back(ch);
  }
}

void EscapeStripper::feed(std::string_view in, std::string& out) {
  out.reserve(out.size() + in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (state_ == State::kText) {
      // A run without control bytes is kept as it is, in one append (the common case).
      std::size_t j = i;
      while (j < in.size() && static_cast<unsigned char>(in[j]) >= 0x20 && in[j] != 0x7f) ++j;
      if (j > i) {
        out.append(in.data() + i, j - i);
        after_cr_ = false;
        i = j - 1;
        continue;
      }
    }
    const char ch = in[i];
    const auto c = static_cast<unsigned char>(ch);
    const bool after_cr = after_cr_;
    after_cr_ = c == '\r';
    switch (state_) {
      case State::kText:
        text(ch, out, after_cr);
        break;
      case State::kEsc:
        if (c == '[') {
          state_ = State::kCsi;
        } else if (typed_ && c == 'O') {
          state_ = State::kSs3;  // application-mode arrows and F1-F4: ESC O x
        } else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
          state_ = State::kString;  // OSC, DCS, SOS, PM, APC: up to BEL or ST
        } else if (typed_) {
          state_ = State::kText;
          text(ch, out, after_cr);
        } else if (c >= 0x20 && c <= 0x2f) {
          state_ = State::kEscIntermediate;  // e.g. ESC ( B
        } else {
          state_ = State::kText;  // two-byte sequence (ESC =, ESC 7, ...)
        }
        break;
      case State::kSs3:
        state_ = State::kText;
        break;
      case State::kEscIntermediate:
        if (c < 0x20 || c > 0x2f) state_ = State::kText;
        break;
      case State::kCsi:
        if (c >= 0x40 && c <= 0x7e) {
          state_ = State::kText;
        } else if (c == 0x1b) {
          state_ = State::kEsc;
        }
        break;
      case State::kString:
        if (c == 0x07) {
          state_ = State::kText;
        } else if (c == 0x1b) {
          state_ = State::kStringEsc;
        }
        break;
      case State::kStringEsc:
        state_ = c == '\\' ? State::kText : State::kString;
        break;
    }
  }
}

// Keeps the searchable part of stripped output: valid UTF-8. In a record that is mostly not
// text (a binary dump, `cat` of an image), only runs of at least 8 characters are kept, as
// strings(1) does; otherwise random bytes would put ~40% of their size in the index.
std::string searchable(std::string text) {
  // Binary when more than a tenth of the bytes are invalid: the count stops once that is certain.
  const std::size_t binary_above = text.size() / 10;
  std::size_t invalid = 0;
  for (std::size_t i = 0; i < text.size() && invalid <= binary_above;) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {  // the common case
      ++i;
      continue;
    }
    const int n = utf8_len(text, i);
    invalid += n <= 0 ? 1 : 0;
    i += n > 0 ? static_cast<std::size_t>(n) : 1;
  }
  if (invalid == 0) return text;
  const bool binary = invalid > binary_above;
  std::string out;
  std::size_t run = 0;  // start of the current run of valid characters
  const auto end_run = [&](std::size_t end) {
    if (!binary || end - run >= 8) out.append(text, run, end - run);
  };
  for (std::size_t i = 0; i < text.size();) {
    const int n = static_cast<unsigned char>(text[i]) < 0x80 ? 1 : utf8_len(text, i);
    if (n > 0) {
      i += static_cast<std::size_t>(n);
    } else {
      end_run(i);
      run = ++i;
    }
  }
  end_run(text.size());
  return out;
}

bool looks_binary(std::string_view data) {
  constexpr std::size_t kMinJudged = 64, kSample = 512;
  if (data.size() < kMinJudged) return false;
  const std::string_view sample = data.substr(0, kSample);
  std::size_t odd = 0;
  for (std::size_t i = 0; i < sample.size();) {
    const auto c = static_cast<unsigned char>(sample[i]);
    if (c < 0x80) {
      odd += (c < 0x20 && (c < 0x07 || c > 0x0d) && c != 0x1b) || c == 0x7f ? 1 : 0;
      ++i;
      continue;
    }
    const int n = utf8_len(sample, i);
    if (n < 0) break;  // a character cut by the sample's end
    odd += n == 0 ? 1 : 0;
    i += n > 0 ? static_cast<std::size_t>(n) : 1;
  }
  return odd * 10 > sample.size();
}

std::string ascii_runs(std::string_view data) {
  constexpr std::size_t kMinRun = 8;
  const auto printable = [](char c) { return static_cast<unsigned char>(c - 0x20) < 0x5f; };
  const std::size_t n = data.size();
  std::string out;
  std::size_t len = 0;  // printable bytes just before data[i], below kMinRun
  std::size_t i = 0;
  // One byte. The run length is kept without a branch per byte (a mask, not `p ? len + 1 : 0`,
  // which GCC compiled to a jump): in random bytes a printable byte is a coin toss, and only a
  // run reaching kMinRun (rare there) takes the branch. Measured: the jump cost ~35% of a
  // worker's CPU. A run is taken whole; the scan goes on past the byte that ended it.
  const auto step = [&] {
    len = (len + 1) & (std::size_t{0} - static_cast<std::size_t>(printable(data[i])));
    if (len == kMinRun) [[unlikely]] {
      const std::size_t start = i + 1 - kMinRun;
      std::size_t end = i + 1;
      while (end < n && printable(data[end])) ++end;
      out.append(data.data() + start, end - start);
      out.push_back('\n');
      i = end;
      len = 0;
    }
    ++i;
  };
#if defined(__SSE2__)
  // 16 bytes at a time: a block in which no 8 printable bytes follow each other (counting the
  // printable bytes carried in from the block before) is passed with one test; in random bytes
  // that is nearly every block. Byte by byte, this was ~35% of the core's work indexing a recorded
  // binary download. printable ⇔ (b - 0x20) < 0x5f unsigned ⇔ (int8)(b + 0x60) < -33.
  const __m128i bias = _mm_set1_epi8(0x60);
  const __m128i limit = _mm_set1_epi8(-33);
  while (i + 16 <= n) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data.data() + i));
    const auto mask =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(_mm_add_epi8(bytes, bias), limit)));
    // Bits 0-6: the 7 bytes before the block (the last `len` of them printable); 7-22: the block.
    const unsigned carried = ((1U << len) - 1) << (7 - len);
    const unsigned bits = mask << 7 | carried;
    unsigned eight = bits & bits >> 1;  // bit k set: bytes k..k+1 printable
    eight &= eight >> 2;                // k..k+3
    eight &= eight >> 4;                // k..k+7
    if (eight == 0) {
      // No run here: what is carried on is the printable tail of the block (fewer than 8).
      len = static_cast<std::size_t>(std::countl_one(static_cast<std::uint16_t>(mask)));
      i += 16;
      continue;
    }
    for (const std::size_t stop = i + 16; i < stop;) step();  // may pass `stop` inside a run
  }
#endif
  while (i < n) step();
  return out;
}

void TextIndex::add(std::uint64_t chunk, const Record& r) {
  if (r.kind != RecordKind::kOutput && r.kind != RecordKind::kInput) return;
  EscapeStripper& stripper = r.kind == RecordKind::kOutput ? output_ : input_;
  std::string text;
  if (looks_binary(r.data)) {
    // Not terminal text (a binary dump, `cat` of an archive): no escape parsing, strings(1)-style.
    stripper.reset();
    text = ascii_runs(r.data);
  } else {
    std::string stripped;
    stripper.feed(r.data, stripped);
    text = searchable(std::move(stripped));
  }
  if (text.empty()) return;
  pending_ += text.size();
  // Consecutive records of one stream in one chunk share a segment when they carry one time:
  // it keeps the index small for output read in many small pieces.
  if (!segments_.empty() && segments_.back().kind == r.kind && segments_.back().chunk == chunk &&
      segments_.back().at_us == r.at_us) {
    segments_.back().text += text;
    return;
  }
  segments_.push_back({r.kind, chunk, r.at_us, std::move(text)});
}

Bytes TextIndex::encode() const {
  Bytes out;
  format::put_varint(out, segments_.size());
  std::uint64_t chunk = 0;
  std::int64_t at = 0;
  for (const auto& s : segments_) {
    out.push_back(static_cast<std::uint8_t>(s.kind));
    format::put_varint(out, s.chunk - chunk);
    format::put_varint(out, static_cast<std::uint64_t>(s.at_us - at));
    format::put_varint(out, s.text.size());
    out.insert(out.end(), s.text.begin(), s.text.end());
    chunk = s.chunk;
    at = s.at_us;
  }
  return out;
}

Bytes TextIndex::take_block() {
  Bytes out = encode();
  segments_.clear();
  pending_ = 0;
  return out;
}

Result<TextIndex> TextIndex::decode(ByteView data) {
  TextIndex t;
  if (auto r = t.decode_append(data); !r) return tl::make_unexpected(r.error());
  return t;
}

Result<void> TextIndex::decode_append(ByteView data) {
  TextIndex& t = *this;
  format::Cursor c(data);
  std::uint64_t n = 0;
  // Each segment takes at least 5 bytes: the count cannot exceed what the data could hold.
  if (!c.varint(n) || n > kMaxSegments || n > c.remaining() / 5) {
    return fail(ErrorCode::kCorrupt, "text index: bad segment count");
  }
  std::uint64_t chunk = 0, at = 0;
  t.segments_.reserve(t.segments_.size() + static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint8_t kind = 0;
    std::uint64_t dc = 0, dt = 0, len = 0;
    ByteView text;
    if (!c.u8(kind) || !c.varint(dc) || !c.varint(dt) || !c.varint(len) || len > c.remaining() ||
        !c.bytes(static_cast<std::size_t>(len), text) ||
        (kind != static_cast<std::uint8_t>(RecordKind::kOutput) &&
         kind != static_cast<std::uint8_t>(RecordKind::kInput))) {
      return fail(ErrorCode::kCorrupt, "text index: segment " + std::to_string(i) + " malformed");
    }
    chunk += dc;
    at += dt;
    if (at > static_cast<std::uint64_t>(INT64_MAX)) {
      return fail(ErrorCode::kCorrupt, "text index: time out of range");
    }
    t.segments_.push_back({static_cast<RecordKind>(kind), chunk, static_cast<std::int64_t>(at),
                           std::string(reinterpret_cast<const char*>(text.data()), text.size())});
  }
  if (c.remaining() != 0) return fail(ErrorCode::kCorrupt, "text index: trailing bytes");
  return ok();
}

std::vector<SearchHit> TextIndex::search(std::string_view needle, std::size_t limit) const {
  std::vector<SearchHit> hits;
  if (needle.empty() || limit == 0) return hits;
  // Each stream is searched as one text, so a match may span records and chunks.
  for (const RecordKind kind : {RecordKind::kOutput, RecordKind::kInput}) {
    std::string all;
    std::vector<std::size_t> starts;
    std::vector<std::int64_t> times;
    for (const auto& s : segments_) {
      if (s.kind != kind) continue;
      starts.push_back(all.size());
      times.push_back(s.at_us);
      all += s.text;
    }
    std::size_t found = 0;
    for (std::size_t pos = all.find(needle); pos != std::string::npos && found < limit;
         pos = all.find(needle, pos + 1), ++found) {
      const auto seg = std::upper_bound(starts.begin(), starts.end(), pos) - starts.begin() - 1;
      const std::size_t line_start =
          all.rfind('\n', pos) == std::string::npos ? 0 : all.rfind('\n', pos) + 1;
      std::size_t line_end = all.find('\n', pos + needle.size());
      if (line_end == std::string::npos) line_end = all.size();
      const std::size_t from = std::max(line_start, pos > kContextBytes ? pos - kContextBytes : 0);
      const std::size_t to = std::min(line_end, pos + needle.size() + kContextBytes);
      hits.push_back({times[static_cast<std::size_t>(seg)], kind,
                      sanitize_utf8(std::string_view(all).substr(from, to - from), nullptr)});
    }
  }
  std::stable_sort(hits.begin(), hits.end(),
                   [](const SearchHit& a, const SearchHit& b) { return a.at_us < b.at_us; });
  if (hits.size() > limit) hits.resize(limit);
  return hits;
}

}  // namespace sekisho::recorder
