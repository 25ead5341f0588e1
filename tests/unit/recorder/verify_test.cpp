#include <algorithm>

#include "recorder/frame_scan.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/recorder/test_recording.hpp"

namespace sekisho::recorder {
namespace {

using testing::output;

struct Span {
  std::uint64_t offset, size;
};

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Record> records;
    for (int i = 0; i < 200; ++i) {
      records.push_back(output(i * 100, "output line " + std::to_string(i * 7919 % 1000) + "\r\n"));
    }
    WriterOptions o;
    o.chunk_bytes = 512;
    summary = testing::write_recording(keys, path(), records, o);
    auto file = open_recording(path());
    ASSERT_TRUE(file);
    auto end = scan_frames(
        **file, false,
        [&](const format::FrameHeader& f, std::uint64_t off, const std::optional<Digest>&) {
          chunks.push_back({off, format::kFrameHeaderBytes + f.cipher_len});
          return true;
        });
    ASSERT_TRUE(end);
    header_size = (*file)->header.raw.size();
    bytes = testing::read_bytes(path());
    ASSERT_GE(chunks.size(), 8u);
  }

  std::filesystem::path path() const { return dir.path() / "v.skr"; }
  VerifyReport check(const std::string& content, std::optional<std::string> key = std::nullopt) {
    const auto p = dir.path() / "tampered.skr";
    testing::write_bytes(p, content);
    auto r = verify(p, key ? key : keys.signer.public_pem());
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : VerifyReport{};
  }
  static bool mentions(const VerifyReport& r, const std::string& text) {
    return std::any_of(r.problems.begin(), r.problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
  }
  std::string joined(const VerifyReport& r) const {
    std::string s;
    for (const auto& p : r.problems) s += p + "\n";
    return s;
  }

  testing::TempDir dir;
  testing::RecordingKeys keys;
  RecordingSummary summary;
  std::vector<Span> chunks;
  std::uint64_t header_size = 0;
  std::string bytes;
};

TEST_F(VerifyTest, AnUntouchedRecordingVerifiesWithThePinnedKey) {
  auto r = verify(path(), keys.signer.public_pem());
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok()) << joined(*r);
  EXPECT_TRUE(r->key_pinned);
  EXPECT_EQ(r->chunks, chunks.size());
  EXPECT_EQ(r->final_hash, summary.final_hash);
  EXPECT_EQ(r->size_bytes, summary.size_bytes);
  EXPECT_EQ(r->duration_us, 19'900);
  EXPECT_EQ(r->header.session_id, "s-0001");
}

TEST_F(VerifyTest, WithoutAPinnedKeyTheEmbeddedKeyIsUsedAndSaidSo) {
  auto r = verify(path(), std::nullopt);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok());
  EXPECT_FALSE(r->key_pinned);
}

TEST_F(VerifyTest, AWrongPublicKeyFails) {
  const auto other = *SigningKey::generate();
  const auto r = check(bytes, other.public_pem());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.signature, SignatureStatus::kWrongKey);
  EXPECT_TRUE(mentions(r, "not by the expected key")) << joined(r);
}

TEST_F(VerifyTest, AReplacedEmbeddedKeyDoesNotFoolThePinnedKey) {
  // An attacker re-signs with their own key and embeds it: the pinned key refuses it.
  const auto r = check(bytes, SigningKey::generate()->public_pem());
  EXPECT_NE(r.signature, SignatureStatus::kValid);
}

TEST_F(VerifyTest, AFlippedByteInAnyChunkIsNamed) {
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    // One byte in the ciphertext, one in the frame header's timestamps.
    for (const std::uint64_t at : {chunks[i].offset + chunks[i].size - 3, chunks[i].offset + 20}) {
      std::string t = bytes;
      t[at] = static_cast<char>(t[at] ^ 0x10);
      const auto r = check(t);
      EXPECT_FALSE(r.ok()) << "chunk " << i;
      EXPECT_FALSE(r.chain_ok) << "chunk " << i;
      const std::string name = "chunk " + std::to_string(i);
      EXPECT_TRUE(mentions(r, name + " altered") || mentions(r, name + " or chunk") ||
                  mentions(r, "(chunk " + std::to_string(i) + " or") || mentions(r, name + ":"))
          << "chunk " << i << ": " << joined(r);
    }
  }
}

TEST_F(VerifyTest, AFlippedByteInTheHeaderIsNamed) {
  std::string t = bytes;
  t[t.find("alice")] = 'm';  // the recording now claims another user
  const auto r = check(t);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.header.user, "mlice");
  EXPECT_TRUE(mentions(r, "does not chain to the header")) << joined(r);
  EXPECT_EQ(r.signature, SignatureStatus::kInvalid);
}

TEST_F(VerifyTest, ADroppedChunkIsNamed) {
  const auto& c = chunks[3];
  std::string t = bytes;
  t.erase(c.offset, c.size);
  const auto r = check(t);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(mentions(r, "chunk 3 is missing")) << joined(r);
}

TEST_F(VerifyTest, SwappedChunksAreNamed) {
  const auto& a = chunks[2];
  const auto& b = chunks[3];
  std::string t = bytes.substr(0, a.offset) + bytes.substr(b.offset, b.size) +
                  bytes.substr(a.offset, a.size) + bytes.substr(b.offset + b.size);
  const auto r = check(t);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(mentions(r, "reordered: chunk 2 comes after chunk 3")) << joined(r);
}

TEST_F(VerifyTest, ACutFileIsNamedAndItsPrefixVerifies) {
  // At a chunk boundary, inside a chunk, inside the closing record.
  for (const std::uint64_t cut : {chunks[5].offset, chunks[5].offset + 40, bytes.size() - 10}) {
    const auto r = check(bytes.substr(0, cut));
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.chain_ok) << cut << ": " << joined(r);
    ASSERT_TRUE(r.truncated_after) << cut;
    EXPECT_EQ(r.signature, SignatureStatus::kMissing);
    EXPECT_TRUE(mentions(r, "cut")) << joined(r);
  }
  const auto r = check(bytes.substr(0, chunks[5].offset + 40));
  EXPECT_EQ(*r.truncated_after, 5u);
  EXPECT_TRUE(mentions(r, "truncated after chunk 5")) << joined(r);
}

TEST_F(VerifyTest, TrailingBytesAreNamed) {
  const auto r = check(bytes + std::string(300, 'x'));
  EXPECT_FALSE(r.ok());
}

TEST_F(VerifyTest, AReaderOfACutFileReplaysTheCompleteChunks) {
  const auto p = dir.path() / "cut.skr";
  testing::write_bytes(p, bytes.substr(0, chunks[5].offset + 40));
  auto reader = testing::open_reader(keys, p);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->truncated_after(), 5u);
  EXPECT_EQ(reader->chunk_count(), 5u);
  const auto back = testing::replay_all(*reader);
  EXPECT_GT(back.size(), 10u);
  EXPECT_EQ(back[0].data.substr(0, 12), "output line ");
}

TEST_F(VerifyTest, AReaderRefusesAnAlteredChunkByName) {
  std::string t = bytes;
  t[chunks[4].offset + chunks[4].size - 5] ^= 1;
  const auto p = dir.path() / "bad.skr";
  testing::write_bytes(p, t);
  auto reader = testing::open_reader(keys, p);
  ASSERT_TRUE(reader);
  auto r = reader->replay(0, [](const Record&) { return true; });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("chunk 4"), std::string::npos) << r.error().message;
}

TEST(VerifyLimits, ShortAndForeignFilesGetOneLineErrors) {
  testing::TempDir dir;
  const auto p = dir.path() / "x.skr";
  testing::write_bytes(p, "hello, this is not a recording at all");
  auto r = verify(p, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bad magic"), std::string::npos);
  testing::write_bytes(p, std::string(format::kMagic) + std::string("\x00\x01\xff\xff\xff\xff", 6));
  r = verify(p, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("64 KiB"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace sekisho::recorder
