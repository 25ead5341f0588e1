// The text index: what was shown and typed, with terminal escape sequences removed, so that
// search does not decode the recording. Built by the writer as chunks are sealed, and by the
// reader from the chunks when the index file is missing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.hpp"
#include "base/result.hpp"
#include "recorder/recording.hpp"

namespace sekisho::recorder {

// Removes ANSI/VT escape and control sequences from a byte stream that arrives in pieces: a
// sequence split across records is still removed. Keeps printable bytes, tabs and line ends
// (CR becomes LF, so that typed Enter separates lines).
class EscapeStripper {
 public:
  // `typed`: the stream is keystrokes, where ESC followed by a plain key is the Escape key (vim)
  // or Alt+key, not a two-byte control sequence, so the key is kept.
  explicit EscapeStripper(bool typed = false) : typed_(typed) {}
  void feed(std::string_view in, std::string& out);
  // Back to plain text, after a record that was not text (TextIndex::add).
  void reset() {
    state_ = State::kText;
    after_cr_ = false;
  }

 private:
  enum class State { kText, kEsc, kCsi, kSs3, kString, kStringEsc, kEscIntermediate };
  void text(char ch, std::string& out, bool after_cr);
  bool typed_;
  State state_ = State::kText;
  bool after_cr_ = false;
};

// One record's visible text; the unit of search positions.
struct TextSegment {
  RecordKind kind = RecordKind::kOutput;  // kOutput or kInput
  std::uint64_t chunk = 0;
  std::int64_t at_us = 0;
  std::string text;
};

class TextIndex {
 public:
  // Adds a record of chunk `chunk` (records arrive in file order); ignores kinds without text.
  void add(std::uint64_t chunk, const Record& r);
  // Plain serialisation of the segments added so far; the caller compresses and encrypts it.
  Bytes encode() const;
  // encode(), then forgets the segments (not the escape state): the writer streams the index to
  // disk in blocks, so its memory does not grow with the recording.
  Bytes take_block();
  std::size_t pending_text_bytes() const { return pending_; }
  static Result<TextIndex> decode(ByteView data);
  // Appends the segments of one encoded block.
  Result<void> decode_append(ByteView data);
  std::vector<SearchHit> search(std::string_view needle, std::size_t limit) const;
  const std::vector<TextSegment>& segments() const { return segments_; }

 private:
  std::vector<TextSegment> segments_;
  std::size_t pending_ = 0;
  EscapeStripper output_{false}, input_{true};
};

// Whether a record is not terminal text, judged from its first 512 bytes before escape stripping:
// more than a tenth of them are control bytes a terminal does not use (all but BEL, BS, TAB, LF,
// VT, FF, CR and ESC) or bytes that are not UTF-8. Records under 64 bytes are never judged
// binary (keystrokes, prompts, short status lines).
bool looks_binary(std::string_view data);

// strings(1) for a binary record: its runs of at least 8 printable ASCII bytes, each followed
// by a line end (a search does not match across two runs).
std::string ascii_runs(std::string_view data);

// Replaces invalid UTF-8 with U+FFFD. Bytes that may be the start of a sequence cut at the end of
// `in` are left in `carry` for the next call (pass an empty carry at the end to flush them).
std::string sanitize_utf8(std::string_view in, std::string* carry);

}  // namespace sekisho::recorder
