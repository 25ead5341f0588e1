#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <random>

#include "recorder/format.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/recorder/test_recording.hpp"

namespace sekisho::recorder {
namespace {

using testing::output;
using testing::RecordingKeys;
using testing::TempDir;

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

WriterOptions small_chunks() {
  WriterOptions o;
  o.chunk_bytes = 1024;
  return o;
}

TEST(RecordingRoundTrip, TextAndBinaryBytesComeBackUnchanged) {
  TempDir dir;
  RecordingKeys keys;
  std::vector<Record> records;
  records.push_back(output(0, "\x1b[1;32mhello\x1b[0m world\r\n"));
  records.push_back(output(10, "ls -l\r", RecordKind::kInput));
  const std::string binary = random_bytes(1 << 20, 7);  // like `head -c 1M /dev/urandom`
  for (std::size_t i = 0; i < binary.size(); i += 4096) {
    records.push_back(output(20 + static_cast<std::int64_t>(i), binary.substr(i, 4096)));
  }
  Record resize;
  resize.kind = RecordKind::kResize;
  resize.at_us = 2'000'000;
  resize.cols = 132;
  resize.rows = 43;
  records.push_back(resize);
  records.push_back(output(2'000'001, "window ends in 5 min", RecordKind::kMarker));
  Record transfer;
  transfer.kind = RecordKind::kFileTransfer;
  transfer.at_us = 2'000'002;
  transfer.transfer = {true, "/etc/hosts", 220, sha256(as_bytes("x"))};
  records.push_back(transfer);
  records.push_back(output(2'000'003, std::string("\0\xff\xfe", 3)));

  const auto path = dir.path() / "a.skr";
  const auto summary = testing::write_recording(keys, path, records, small_chunks());
  EXPECT_GT(summary.chunks, 10u);
  EXPECT_EQ(summary.duration_us, 2'000'003);
  EXPECT_EQ(summary.size_bytes, std::filesystem::file_size(path));
  // Binary output is stored raw: the file grows only by the framing, about 100 bytes per chunk
  // (frame header, GCM tag, zstd frame), here one per 4 KiB record.
  EXPECT_LT(summary.size_bytes, binary.size() + summary.chunks * 128 + 2048);

  auto reader = testing::open_reader(keys, path);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->header().user, "alice");
  EXPECT_EQ(reader->duration_us(), 2'000'003);
  EXPECT_FALSE(reader->truncated_after());
  const auto back = testing::replay_all(*reader);
  ASSERT_EQ(back.size(), records.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].kind, records[i].kind) << i;
    EXPECT_EQ(back[i].at_us, records[i].at_us) << i;
    EXPECT_EQ(back[i].data, records[i].data) << i;
  }
  EXPECT_EQ(back[back.size() - 4].cols, 132);
  EXPECT_EQ(back[back.size() - 4].rows, 43);
  EXPECT_EQ(back[back.size() - 2].transfer.path, "/etc/hosts");
  EXPECT_EQ(back[back.size() - 2].transfer.sha256, transfer.transfer.sha256);
  EXPECT_TRUE(back[back.size() - 2].transfer.upload);
}

TEST(RecordingRoundTrip, WrongRecordingKeyCannotOpen) {
  TempDir dir;
  RecordingKeys keys, other;
  testing::write_recording(keys, dir.path() / "a.skr", {output(0, "x")});
  auto r = Reader::open(dir.path() / "a.skr", other.unwrapper());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
}

TEST(RecordingRoundTrip, WrappedKeyCannotMoveToAnotherSession) {
  RecordingKeys keys;
  auto k = new_data_key(keys.recording_key, "s-1");
  ASSERT_TRUE(k);
  EXPECT_TRUE(unwrap_data_key(keys.recording_key, "s-1", k->wrapped));
  EXPECT_FALSE(unwrap_data_key(keys.recording_key, "s-2", k->wrapped));
}

TEST(RecordingRoundTrip, ReadHeaderNeedsNoKey) {
  TempDir dir;
  RecordingKeys keys;
  testing::write_recording(keys, dir.path() / "a.skr", {output(0, "x")});
  auto h = read_header(dir.path() / "a.skr");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->session_id, "s-0001");
  EXPECT_EQ(h->request_id, "r-42");
}

class SeekTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 100 chunks of 10 records, one record per millisecond.
    std::vector<Record> records;
    for (int i = 0; i < 1000; ++i) {
      records.push_back(output(i * 1000, "line " + std::to_string(i) + " " +
                                             random_bytes(100, static_cast<unsigned>(i))));
    }
    WriterOptions o;
    o.chunk_bytes = 1100;
    summary = testing::write_recording(keys, path(), records, o);
  }
  std::filesystem::path path() const { return dir.path() / "seek.skr"; }

  TempDir dir;
  RecordingKeys keys;
  RecordingSummary summary;
};

TEST_F(SeekTest, SeekDecodesOnlyTheChunkHoldingTheTime) {
  ASSERT_GE(summary.chunks, 90u);
  auto reader = testing::open_reader(keys, path());
  std::vector<Record> got;
  ASSERT_TRUE(reader->replay(654'321, [&](const Record& r) {
    got.push_back(r);
    return false;
  }));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].at_us, 655'000);
  EXPECT_EQ(got[0].data.substr(0, 9), "line 655 ");
  EXPECT_EQ(reader->decoded_chunks(), 1u);
}

TEST_F(SeekTest, WithoutTheSeekIndexTheFramesServeAndStillNoEarlierChunkIsDecoded) {
  std::filesystem::remove(seek_index_path(path()));
  auto reader = testing::open_reader(keys, path());
  EXPECT_EQ(reader->chunk_count(), summary.chunks);
  std::vector<Record> got = testing::replay_all(*reader, 990'000);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got.front().at_us, 990'000);
  EXPECT_LE(reader->decoded_chunks(), 2u);
}

TEST_F(SeekTest, AForeignSeekIndexIsIgnored) {
  // Another recording's index beside this file: it names another header hash.
  RecordingKeys other;
  testing::write_recording(other, dir.path() / "other.skr", {output(0, "x"), output(5, "y")});
  std::filesystem::copy_file(seek_index_path(dir.path() / "other.skr"), seek_index_path(path()),
                             std::filesystem::copy_options::overwrite_existing);
  auto reader = testing::open_reader(keys, path());
  EXPECT_EQ(reader->chunk_count(), summary.chunks);
}

TEST_F(SeekTest, SearchUsesTheTextIndexAndDecodesNoChunk) {
  auto reader = testing::open_reader(keys, path());
  auto hits = reader->search("line 777 ", 10);
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].at_us, 777'000);
  EXPECT_EQ((*hits)[0].kind, RecordKind::kOutput);
  EXPECT_EQ(reader->decoded_chunks(), 0u);
}

TEST_F(SeekTest, SearchWithoutTheTextIndexRebuildsItFromTheChunks) {
  std::filesystem::remove(text_index_path(path()));
  auto reader = testing::open_reader(keys, path());
  auto hits = reader->search("line 777 ", 10);
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].at_us, 777'000);
  EXPECT_EQ(reader->decoded_chunks(), summary.chunks);
}

TEST_F(SeekTest, AnAlteredTextIndexIsRefused) {
  auto bytes = testing::read_bytes(text_index_path(path()));
  bytes[bytes.size() - 20] ^= 1;
  testing::write_bytes(text_index_path(path()), bytes);
  auto reader = testing::open_reader(keys, path());
  EXPECT_FALSE(reader->search("line", 1));
}

TEST(RecordingSearch, EscapesAreRemovedAndMatchesSpanRecords) {
  TempDir dir;
  RecordingKeys keys;
  const auto path = dir.path() / "s.skr";
  testing::write_recording(
      keys, path,
      {output(1, "$ \x1b[01;34mpass"), output(2, "\x1b[0mwd\r\nroot:x:0:0\r\n"),
       output(3, "sudo -i", RecordKind::kInput),
       output(4, "\x1b[A\x1b]0;title\x07", RecordKind::kInput)});
  auto reader = testing::open_reader(keys, path);
  auto hits = reader->search("passwd", 10);
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].at_us, 1);
  EXPECT_EQ((*hits)[0].context, "$ passwd");
  hits = reader->search("sudo", 10);
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ((*hits)[0].kind, RecordKind::kInput);
  EXPECT_TRUE(reader->search("title", 10)->empty());
  EXPECT_TRUE(reader->search("01;34", 10)->empty());
}

TEST(WriterStatus, ARecordLargerThanTheQueueIsRefusedNotBlocked) {
  TempDir dir;
  RecordingKeys keys;
  WriterOptions o;
  o.queue_bytes = 1000;
  auto w = testing::make_writer(keys, dir.path() / "q.skr", o);
  EXPECT_EQ(w->append(output(-1, std::string(2000, 'x'))), AppendStatus::kQueueFull);
  EXPECT_EQ(w->append(output(-1, "small")), AppendStatus::kOk);
  ASSERT_TRUE(w->close(keys.sign()));
  EXPECT_EQ(w->append(output(-1, "late")), AppendStatus::kClosed);
}

TEST(WriterStatus, QueueRoomShrinksWithAppendsAndComesBackAsTheWriterDrains) {
  TempDir dir;
  RecordingKeys keys;
  WriterOptions o;
  o.queue_bytes = 1 << 20;
  auto w = testing::make_writer(keys, dir.path() / "room.skr", o);
  EXPECT_EQ(w->queue_room(), o.queue_bytes);
  // Fill the queue as a relay does: never more than the room (payload + 16 bytes per record).
  std::size_t taken = 0;
  for (int i = 0; i < 10000 && taken < 8 * o.queue_bytes; ++i) {
    const std::size_t room = w->queue_room();
    ASSERT_LE(room, o.queue_bytes);
    if (room <= 16) {
      usleep(1000);
      continue;
    }
    const std::size_t n = std::min<std::size_t>(room - 16, 64 * 1024);
    ASSERT_EQ(w->append(output(-1, std::string(n, 'r'))), AppendStatus::kOk) << "room " << room;
    taken += n;
  }
  EXPECT_GE(taken, 8 * o.queue_bytes);  // the writer drained what was taken
  bool drained = false;
  for (int i = 0; i < 5000 && !drained; ++i) {
    drained = w->queue_room() == o.queue_bytes;
    if (!drained) usleep(1000);
  }
  EXPECT_TRUE(drained);
  ASSERT_TRUE(w->close(keys.sign()));
}

TEST(WriterStatus, CapReachedStopsRecordingAndTheFileStaysUnderTheCap) {
  TempDir dir;
  RecordingKeys keys;
  WriterOptions o;
  o.max_file_bytes = 64 * 1024;
  o.chunk_bytes = 4096;
  const auto path = dir.path() / "cap.skr";
  auto w = testing::make_writer(keys, path, o);
  AppendStatus status = AppendStatus::kOk;
  int accepted = 0;
  for (int i = 0; i < 10000 && status == AppendStatus::kOk; ++i) {
    status = w->append(output(i, random_bytes(1000, static_cast<unsigned>(i))));
    if (status == AppendStatus::kOk) ++accepted;
  }
  EXPECT_EQ(status, AppendStatus::kCapReached);
  EXPECT_EQ(w->append(output(-1, "x")), AppendStatus::kCapReached);
  auto summary = w->close(keys.sign());
  ASSERT_TRUE(summary);
  EXPECT_LE(std::filesystem::file_size(path), o.max_file_bytes);
  auto report = verify(path, keys.signer.public_pem());
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  auto reader = testing::open_reader(keys, path);
  EXPECT_EQ(testing::replay_all(*reader).size(), static_cast<std::size_t>(accepted));
}

// A write error (here the file size limit, as a full disk would) is reported by append and by
// failure(), never swallowed. Runs in a child so that RLIMIT_FSIZE does not touch the test runner.
TEST(WriterStatus, AWriteErrorSurfacesAsFailed) {
  TempDir dir;
  RecordingKeys keys;
  const auto path = dir.path() / "fail.skr";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{32 * 1024, 32 * 1024};
    setrlimit(RLIMIT_FSIZE, &lim);
    WriterOptions o;
    o.chunk_bytes = 4096;
    auto w = testing::make_writer(keys, path, o);
    AppendStatus status = AppendStatus::kOk;
    // Bounded: 20000 records of 1000 random bytes is far past 32 KiB; the queue drains between.
    for (int i = 0; i < 20000 && status != AppendStatus::kFailed; ++i) {
      status = w->append(output(i, random_bytes(1000, static_cast<unsigned>(i))));
      if (status == AppendStatus::kQueueFull) usleep(1000);
    }
    const auto f = w->failure();
    const bool named = f && f->message.find("File too large") != std::string::npos;
    const bool close_fails = !w->close(keys.sign());
    _exit(status == AppendStatus::kFailed && named && close_fails ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
  // What was written before the failure still verifies as a cut recording.
  auto report = verify(path, keys.signer.public_pem());
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->chain_ok);
  EXPECT_TRUE(report->truncated_after);
}

TEST(WriterStatus, CreateRefusesAnExistingFile) {
  TempDir dir;
  RecordingKeys keys;
  testing::write_bytes(dir.path() / "x.skr", "x");
  auto key = new_data_key(keys.recording_key, "s-0001");
  auto w = Writer::create(dir.path() / "x.skr", testing::test_header(), std::move(*key),
                          keys.signer.public_pem());
  EXPECT_FALSE(w);
}

TEST(WriterStatus, FlushIntervalSealsAChunkWithoutMoreInput) {
  TempDir dir;
  RecordingKeys keys;
  WriterOptions o;
  o.flush_interval = std::chrono::milliseconds(10);
  const auto path = dir.path() / "f.skr";
  auto w = testing::make_writer(keys, path, o);
  ASSERT_EQ(w->append(output(-1, "prompt$ ")), AppendStatus::kOk);
  // Wait (bounded) for the chunk to reach the disk by the interval alone.
  const auto header_size = std::filesystem::file_size(path);
  for (int i = 0; i < 1000 && std::filesystem::file_size(path) == header_size; ++i) usleep(5000);
  EXPECT_GT(std::filesystem::file_size(path), header_size);
  auto reader = testing::open_reader(keys, path);
  EXPECT_EQ(reader->truncated_after(), 1u);
  EXPECT_EQ(testing::replay_all(*reader).at(0).data, "prompt$ ");
  ASSERT_TRUE(w->close(keys.sign()));
}

TEST(WriterStatus, TimesThatStepBackAreClampedInOrder) {
  TempDir dir;
  RecordingKeys keys;
  const auto path = dir.path() / "t.skr";
  testing::write_recording(keys, path, {output(100, "a"), output(50, "b")});
  auto reader = testing::open_reader(keys, path);
  const auto back = testing::replay_all(*reader);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].at_us, 100);
}

}  // namespace
}  // namespace sekisho::recorder

namespace sekisho::recorder {
namespace {

// The writer streams the text index in blocks of about 256 KiB; search sees all of them.
TEST(RecordingSearch, ALongSessionsTextIndexSpansBlocks) {
  testing::TempDir dir;
  testing::RecordingKeys keys;
  std::vector<Record> records;
  for (int i = 0; i < 3000; ++i) {
    records.push_back(
        testing::output(i, "row " + std::to_string(i) + " " + std::string(300, 'x') + "\r\n"));
  }
  const auto path = dir.path() / "long.skr";
  testing::write_recording(keys, path, records);
  EXPECT_FALSE(std::filesystem::exists(text_index_path(path).string() + ".tmp"));
  auto reader = testing::open_reader(keys, path);
  for (const int row : {0, 1500, 2999}) {
    auto hits = reader->search("row " + std::to_string(row) + " ", 5);
    ASSERT_TRUE(hits);
    ASSERT_EQ(hits->size(), 1u) << row;
    EXPECT_EQ((*hits)[0].at_us, row);
  }
  EXPECT_EQ(reader->decoded_chunks(), 0u);
}

}  // namespace
}  // namespace sekisho::recorder
