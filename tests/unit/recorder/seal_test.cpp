// seal_recording(): the core's seal of a recording whose writer died, and what verify says of it.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "recorder/format.hpp"
#include "recorder/frame_scan.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/recorder/test_recording.hpp"

namespace sekisho::recorder {
namespace {

using testing::output;

constexpr std::int64_t kSealedAt = 1'795'000'123'000'000;

class SealTest : public ::testing::Test {
 protected:
  // A recording whose writer went away without close(): whole chunks, no closing record.
  void write_unclosed(int records = 50) {
    WriterOptions o;
    o.chunk_bytes = 256;
    auto w = testing::make_writer(keys, path(), o);
    for (int i = 0; i < records; ++i) {
      written.push_back(output(1000 + i * 100, "line " + std::to_string(i) + "\r\n"));
      ASSERT_EQ(w->append(written.back()), AppendStatus::kOk);
    }
    w.reset();  // seals and syncs the queued chunks, writes no closing record
  }
  std::filesystem::path path() const { return dir.path() / "s.skr"; }
  Result<SealOutcome> seal(SealReason reason = SealReason::kGatewayStopped) {
    return seal_recording(path(), reason, kSealedAt, keys.signer);
  }
  VerifyReport verified(const std::filesystem::path& p) {
    auto r = verify(p, keys.signer.public_pem());
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : VerifyReport{};
  }
  std::vector<Record> replayed() {
    std::vector<Record> got;
    auto reader = testing::open_reader(keys, path());
    if (!reader) return got;
    EXPECT_TRUE(reader->replay(0, [&](const Record& r) {
      got.push_back(r);
      return true;
    }));
    return got;
  }

  testing::TempDir dir;
  testing::RecordingKeys keys;
  std::vector<Record> written;
};

TEST_F(SealTest, UnclosedRecordingBeforeSealFailsVerify) {
  write_unclosed();
  const auto r = verified(path());
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.seal);
}

TEST_F(SealTest, SealedRecordingVerifiesWithItsReasonAndLastRecordTime) {
  write_unclosed();
  auto s = seal(SealReason::kWorkerDied);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE(s->already_closed);
  EXPECT_EQ(s->seal.cut_bytes, 0u);
  const auto r = verified(path());
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
  ASSERT_TRUE(r.seal);
  EXPECT_EQ(r.seal->reason, SealReason::kWorkerDied);
  EXPECT_EQ(r.seal->sealed_at_unix_us, kSealedAt);
  EXPECT_EQ(r.duration_us, written.back().at_us);
  EXPECT_EQ(r.final_hash, s->summary.final_hash);
  EXPECT_EQ(r.size_bytes, s->summary.size_bytes);
  EXPECT_EQ(r.size_bytes, std::filesystem::file_size(path()));
  EXPECT_EQ(replayed().size(), written.size());  // every record, to the last sealed byte
}

TEST_F(SealTest, TornLastWriteIsCutAndCounted) {
  write_unclosed();
  std::string bytes = testing::read_bytes(path());
  // The start of a frame the writer did not finish: its type and part of its header.
  const std::string torn = std::string(1, 'C') + std::string(29, '\x01');
  testing::write_bytes(path(), bytes + torn);
  auto s = seal();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->seal.cut_bytes, torn.size());
  const auto r = verified(path());
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
  ASSERT_TRUE(r.seal);
  EXPECT_EQ(r.seal->cut_bytes, torn.size());
  EXPECT_EQ(replayed().size(), written.size());
}

TEST_F(SealTest, CutOrAlteredAfterSealingFailsVerify) {
  write_unclosed();
  ASSERT_TRUE(seal());
  const std::string sealed = testing::read_bytes(path());
  const auto copy = dir.path() / "copy.skr";
  auto check = [&](const std::string& content) {
    testing::write_bytes(copy, content);
    return verified(copy);
  };
  EXPECT_FALSE(check(sealed.substr(0, sealed.size() - 1)).ok()) << "last byte cut";
  EXPECT_FALSE(check(sealed.substr(0, sealed.size() - 100)).ok()) << "seal cut";
  std::string altered = sealed;
  altered[altered.size() / 2] ^= 0x01;  // inside a chunk
  EXPECT_FALSE(check(altered).ok()) << "chunk altered";
  // Each byte of the seal before its signature: reason, counts, times, hash, cut bytes.
  const std::size_t seal_at = sealed.size() - format::kSealFixedBytes - 64;
  for (std::size_t i = 1; i < format::kSealFixedBytes - 2; ++i) {
    std::string s = sealed;
    s[seal_at + i] ^= 0x02;
    EXPECT_FALSE(check(s).ok()) << "seal byte " << i;
  }
  // Sealed by a key that is neither the pinned one nor the one the file names.
  auto other = *SigningKey::generate();
  testing::write_bytes(path(), sealed.substr(0, seal_at));
  ASSERT_TRUE(seal_recording(path(), SealReason::kGatewayStopped, kSealedAt, other));
  EXPECT_EQ(verified(path()).signature, SignatureStatus::kInvalid);
}

TEST_F(SealTest, BrokenChainIsNotSealedAndTheFileIsLeftAsItIs) {
  write_unclosed();
  std::string bytes = testing::read_bytes(path());
  bytes[bytes.size() / 2] ^= 0x01;
  testing::write_bytes(path(), bytes);
  auto s = seal();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(s.error().message.find("does not verify"), std::string::npos) << s.error().message;
  EXPECT_EQ(testing::read_bytes(path()), bytes);
}

TEST_F(SealTest, ClosedRecordingIsLeftAsItIs) {
  testing::write_recording(keys, path(), {output(5, "done\r\n")});
  const std::string before = testing::read_bytes(path());
  auto s = seal();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->already_closed);
  EXPECT_EQ(testing::read_bytes(path()), before);
  EXPECT_FALSE(verified(path()).seal);
}

TEST_F(SealTest, SealMessageIsNeverAWorkersClosingMessage) {
  write_unclosed();
  ASSERT_TRUE(seal());
  auto file = open_recording(path());
  ASSERT_TRUE(file);
  auto end = scan_frames(
      **file, false,
      [](const format::FrameHeader&, std::uint64_t, const std::optional<Digest>&) { return true; });
  ASSERT_TRUE(end && end->closing && end->closing->seal);
  const Bytes message = format::closing_message((*file)->start_hash, *end->closing);
  EXPECT_FALSE(format::decode_closing_message(message));
  // The same fields as a worker's closing record give another message.
  format::Closing as_close = *end->closing;
  as_close.seal.reset();
  EXPECT_NE(format::closing_message((*file)->start_hash, as_close), message);
}

// The writer's lock names its process: the core learns who may still write, and does not seal
// under a live writer. Kept in a child process: a process never sees its own locks.
TEST_F(SealTest, LiveWriterHoldsTheLockAndIsNotSealedUnder) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto key = new_data_key(keys.recording_key, "s-0001");
    auto w =
        Writer::create(path(), testing::test_header(), std::move(*key), keys.signer.public_pem());
    if (!w || (*w)->append(output(10, "live\r\n")) != AppendStatus::kOk) ::_exit(3);
    (void)!::write(ready[1], "x", 1);
    ::pause();  // until the parent kills it
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  auto holder = recording_writer(path());
  ASSERT_TRUE(holder) << holder.error().message;
  EXPECT_EQ(*holder, std::optional<pid_t>(child));
  auto refused = seal();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  holder = recording_writer(path());
  ASSERT_TRUE(holder);
  EXPECT_FALSE(*holder);
  auto s = seal();
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(verified(path()).ok());
}

}  // namespace
}  // namespace sekisho::recorder
