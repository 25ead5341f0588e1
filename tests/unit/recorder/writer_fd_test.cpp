// Writer::create_at: a recording written into a descriptor that someone else created (the core
// creates a session's file; the worker only holds the descriptor).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/temp_dir.hpp"
#include "tests/unit/recorder/test_recording.hpp"

namespace sekisho::recorder {
namespace {

using testing::output;
using testing::RecordingKeys;
using testing::TempDir;

int create_file(const std::filesystem::path& path, int flags = O_WRONLY) {
  return ::open(path.c_str(), flags | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

Result<std::unique_ptr<Writer>> writer_at(const RecordingKeys& keys, int fd,
                                          WriterOptions options = {}) {
  auto key = new_data_key(keys.recording_key, "s-0001");
  EXPECT_TRUE(key.has_value());
  return Writer::create_at(fd, "s-0001.skr", testing::test_header(), std::move(*key),
                           keys.signer.public_pem(), options);
}

TEST(WriterAtDescriptor, WritesAVerifiedRecordingAndNoIndexFiles) {
  TempDir dir;
  RecordingKeys keys;
  const auto path = dir.path() / "s-0001.skr";
  WriterOptions small;
  small.chunk_bytes = 1024;
  auto w = writer_at(keys, create_file(path), small);
  ASSERT_TRUE(w) << w.error().message;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    const std::string line = "line " + std::to_string(i) + " of the session output\r\n";
    expected += line;
    ASSERT_EQ((*w)->append(output(i * 10, line)), AppendStatus::kOk);
  }
  auto summary = (*w)->close(keys.sign());
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_GT(summary->chunks, 3u);
  EXPECT_EQ(summary->size_bytes, std::filesystem::file_size(path));

  auto report = verify(path, keys.signer.public_pem());
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems.front());
  EXPECT_EQ(report->final_hash, summary->final_hash);
  EXPECT_FALSE(std::filesystem::exists(seek_index_path(path)));
  EXPECT_FALSE(std::filesystem::exists(text_index_path(path)));

  // Without index files the reader rebuilds the seek index and search decodes the chunks.
  auto reader = testing::open_reader(keys, path);
  ASSERT_TRUE(reader);
  std::string replayed;
  ASSERT_TRUE(reader->replay(0, [&](const Record& r) {
    replayed += r.data;
    return true;
  }));
  EXPECT_EQ(replayed, expected);
  auto hits = reader->search("line 150 of", 5);
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(hits->front().at_us, 1500);

  // The core writes the index files afterwards; a fresh reader then searches by them without
  // decoding a chunk (the reader above decoded all of them).
  ASSERT_TRUE(reader->write_indexes());
  EXPECT_TRUE(std::filesystem::exists(seek_index_path(path)));
  EXPECT_TRUE(std::filesystem::exists(text_index_path(path)));
  auto indexed = testing::open_reader(keys, path);
  ASSERT_TRUE(indexed);
  auto again = indexed->search("line 150 of", 5);
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().at_us, 1500);
  EXPECT_EQ(indexed->decoded_chunks(), 0u);  // answered from the text index alone
  auto report_after = verify(path, keys.signer.public_pem());
  ASSERT_TRUE(report_after);
  EXPECT_TRUE(report_after->ok());
}

TEST(WriterAtDescriptor, IndexFilesAreNotWrittenForACutRecording) {
  TempDir dir;
  RecordingKeys keys;
  const auto path = dir.path() / "s-0001.skr";
  WriterOptions small;
  small.chunk_bytes = 512;
  auto w = writer_at(keys, create_file(path), small);
  ASSERT_TRUE(w) << w.error().message;
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ((*w)->append(output(i, "some output line that fills chunks\r\n")), AppendStatus::kOk);
  }
  ASSERT_TRUE((*w)->close(keys.sign()));
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);  // no closing record
  auto reader = testing::open_reader(keys, path);
  ASSERT_TRUE(reader);
  auto r = reader->write_indexes();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(text_index_path(path)));
}

TEST(WriterAtDescriptor, RefusesANonEmptyFile) {
  TempDir dir;
  RecordingKeys keys;
  const auto path = dir.path() / "used.skr";
  const int fd = create_file(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "x", 1), 1);
  auto w = writer_at(keys, fd);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("is not empty"), std::string::npos) << w.error().message;
  EXPECT_EQ(std::filesystem::file_size(path), 1u);
}

TEST(WriterAtDescriptor, RefusesADirectoryAReadOnlyOrAnAppendOnlyDescriptor) {
  TempDir dir;
  RecordingKeys keys;
  auto w = writer_at(keys, ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("not a regular file"), std::string::npos);

  const auto ro = dir.path() / "ro.skr";
  ::close(create_file(ro));
  w = writer_at(keys, ::open(ro.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("positional writing"), std::string::npos);

  w = writer_at(keys, create_file(dir.path() / "ap.skr", O_WRONLY | O_APPEND));
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("positional writing"), std::string::npos);

  w = writer_at(keys, -1);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("no descriptor"), std::string::npos);
}

TEST(WriterAtDescriptor, ClosesTheDescriptorItWasGivenEvenWhenRefusing) {
  TempDir dir;
  RecordingKeys keys;
  const auto path = dir.path() / "x.skr";
  const int fd = create_file(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "x", 1), 1);
  ASSERT_FALSE(writer_at(keys, fd));
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

}  // namespace
}  // namespace sekisho::recorder
