#include "recorder/format.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "recorder/text_index.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/recorder/test_recording.hpp"

namespace sekisho::recorder {
namespace {

TEST(Varint, RoundTripsAndRefusesOverlongValues) {
  for (const std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, ~0ull}) {
    Bytes b;
    format::put_varint(b, v);
    format::Cursor c(b);
    std::uint64_t back = 0;
    ASSERT_TRUE(c.varint(back));
    EXPECT_EQ(back, v);
  }
  const Bytes overlong(11, 0xff);
  format::Cursor c(overlong);
  std::uint64_t v = 0;
  EXPECT_FALSE(c.varint(v));
}

TEST(FrameHeader, LimitsAreChecked) {
  format::FrameHeader f;
  f.records = 1;
  f.plain_len = 10;
  f.cipher_len = format::kMaxChunkCipher + 1;
  EXPECT_FALSE(format::decode_frame_header(format::encode_frame_header(f), "chunk 0"));
  f.cipher_len = 30;
  f.records = 100;  // more records than 10 bytes can hold
  EXPECT_FALSE(format::decode_frame_header(format::encode_frame_header(f), "chunk 0"));
  f.records = 1;
  EXPECT_TRUE(format::decode_frame_header(format::encode_frame_header(f), "chunk 0"));
}

TEST(Header, FieldsOverTheLimitAreRefusedOnWriteAndRead) {
  Header h = testing::test_header();
  Bytes raw = format::encode_header(h, Bytes(60, 1), "pem");
  auto back = format::decode_header(raw);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->header.account, "root");
  h.user = std::string(5000, 'u');
  raw = format::encode_header(h, Bytes(60, 1), "pem");
  back = format::decode_header(raw);
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("4096"), std::string::npos);

  testing::TempDir dir;
  testing::RecordingKeys keys;
  auto key = new_data_key(keys.recording_key, "s");
  EXPECT_FALSE(Writer::create(dir.path() / "a.skr", h, std::move(*key), "pem"));
}

TEST(EscapeStripper, RemovesSequencesSplitAcrossPieces) {
  EscapeStripper s;
  std::string out;
  s.feed("a\x1b[3", out);
  s.feed("1mb\x1b]0;ti", out);
  s.feed("tle\x1b\\c\r\n\x1b(Bd\x1bPq#0\x1b\\e\x07\tf", out);
  EXPECT_EQ(out, "abc\nde f");
}

// Random bytes (the recorder's worst case) are judged binary from their first bytes and indexed
// as strings(1) would: a marker string inside them is found, the rest leaves almost nothing.
TEST(TextIndex, BinaryRecordsKeepOnlyTheirAsciiRuns) {
  std::string noise;
  std::uint32_t x = 2463534242u;
  for (int i = 0; i < 64 * 1024; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    noise.push_back(static_cast<char>(x & 0xff));
  }
  EXPECT_TRUE(looks_binary(noise));
  const std::string marker = "BUILD-ID=4f1c9e77";
  TextIndex index;
  index.add(0, testing::output(
                   10, noise.substr(0, 30000) + "\x01" + marker + "\x02" + noise.substr(30000)));
  std::size_t indexed = 0;
  for (const auto& seg : index.segments()) indexed += seg.text.size();
  EXPECT_LT(indexed, noise.size() / 100) << "random bytes should leave almost no text";
  const auto hits = index.search(marker, 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].at_us, 10);
  // Runs are kept whole and end with a line end; a run under 8 bytes is dropped.
  EXPECT_EQ(ascii_runs(std::string("\x01short\x02"
                                   "exactly8\x03") +
                       std::string(9, 'z')),
            "exactly8\n" + std::string(9, 'z') + "\n");
}

// ascii_runs (a branch-free scan) finds exactly what a plain scan finds: every maximal run of 8 or
// more printable bytes, whole, at any position (start, end, touching another), at any density.
TEST(TextIndex, AsciiRunsMatchAByteByByteScan) {
  const auto reference = [](std::string_view d) {
    std::string out;
    std::size_t i = 0;
    while (i < d.size()) {
      std::size_t j = i;
      while (j < d.size() && static_cast<unsigned char>(d[j] - 0x20) < 0x5f) ++j;
      if (j - i >= 8) out.append(d.substr(i, j - i)).push_back('\n');
      i = j + 1;
    }
    return out;
  };
  std::uint32_t x = 88172645u;
  const auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  std::size_t runs_seen = 0;
  for (const std::uint32_t printable_per_256 : {40u, 128u, 220u, 250u}) {
    for (std::size_t size = 0; size < 400; size += 1 + size / 8) {
      for (int round = 0; round < 20; ++round) {
        std::string d;
        for (std::size_t i = 0; i < size; ++i) {
          d.push_back(next() % 256 < printable_per_256 ? static_cast<char>('a' + next() % 26)
                                                       : static_cast<char>(next() % 0x20));
        }
        const std::string want = reference(d);
        runs_seen += static_cast<std::size_t>(std::count(want.begin(), want.end(), '\n'));
        ASSERT_EQ(ascii_runs(d), want) << "density " << printable_per_256 << ", size " << size;
      }
    }
  }
  EXPECT_GT(runs_seen, 1000u);  // the inputs did hold runs to find
}

// Terminal output is not judged binary: escapes, line ends, UTF-8 text and a stray invalid byte
// are all ordinary there, and its non-ASCII text stays searchable.
TEST(TextIndex, TerminalOutputIsNotBinary) {
  std::string screen;
  for (int i = 0; i < 20; ++i) {
    screen += "\x1b[01;34mログ-" + std::to_string(i) + "\x1b[0m\tcafé \x07\b\r\n";
  }
  screen += "\xff";
  EXPECT_FALSE(looks_binary(screen));
  EXPECT_FALSE(looks_binary(std::string(63, '\0')));  // too short to judge
  EXPECT_TRUE(looks_binary(std::string(64, '\0')));
  TextIndex index;
  index.add(0, testing::output(5, screen));
  const auto hits = index.search("ログ-17", 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].context.find("café"), std::string::npos) << hits[0].context;
}

TEST(Utf8, InvalidBytesAreReplacedAndSplitCharactersKept) {
  EXPECT_EQ(sanitize_utf8("a\xff"
                          "b",
                          nullptr),
            "a\xEF\xBF\xBD"
            "b");
  std::string carry;
  const std::string euro = "\xE2\x82\xAC";
  std::string out = sanitize_utf8("x" + euro.substr(0, 2), &carry);
  EXPECT_EQ(out, "x");
  out += sanitize_utf8(euro.substr(2) + "y", &carry);
  EXPECT_EQ(out, "x" + euro + "y");
  EXPECT_TRUE(carry.empty());
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80", nullptr), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Asciicast, EventsForEveryKindAndInvalidUtf8ReplacedOnlyInTheExport) {
  testing::TempDir dir;
  testing::RecordingKeys keys;
  const auto path = dir.path() / "a.skr";
  Record resize;
  resize.kind = RecordKind::kResize;
  resize.at_us = 3'000'000;
  resize.cols = 100;
  resize.rows = 30;
  testing::write_recording(
      keys, path,
      {testing::output(0, "caf\xC3"), testing::output(1'500'000, "\xA9 \xff\r\n"),
       testing::output(2'000'000, "ls\r", RecordKind::kInput), resize,
       testing::output(4'000'000, "window ends", RecordKind::kMarker)});
  auto reader = testing::open_reader(keys, path);
  std::ostringstream out;
  ASSERT_TRUE(export_asciicast(*reader, out));
  std::istringstream lines(out.str());
  std::string line;
  std::vector<std::string> all;
  while (std::getline(lines, line)) all.push_back(line);
  ASSERT_EQ(all.size(), 6u) << out.str();
  EXPECT_NE(all[0].find("\"version\":2"), std::string::npos);
  EXPECT_NE(all[0].find("\"width\":80"), std::string::npos);
  EXPECT_EQ(all[1], "[0.000000, \"o\", \"caf\"]");
  EXPECT_EQ(all[2], "[1.500000, \"o\", \"\xC3\xA9 \xEF\xBF\xBD\\r\\n\"]");
  EXPECT_EQ(all[3], "[2.000000, \"i\", \"ls\\r\"]");
  EXPECT_EQ(all[4], "[3.000000, \"r\", \"100x30\"]");
  EXPECT_EQ(all[5], "[4.000000, \"m\", \"window ends\"]");
  // The recording itself still holds the raw bytes.
  auto back = testing::replay_all(*testing::open_reader(keys, path));
  EXPECT_EQ(back[1].data, "\xA9 \xff\r\n");
}

}  // namespace
}  // namespace sekisho::recorder
