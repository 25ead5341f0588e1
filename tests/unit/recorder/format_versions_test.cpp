// Every .skr format version ever written must still verify and replay: the recordings kept in
// tests/data/recordings (one directory per version, written by tests/harness/make_format_sample
// with the build of that version) are read by today's code.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "recorder/format.hpp"
#include "recorder/recording.hpp"
#include "tests/unit/recorder/format_sample.hpp"

namespace sekisho::recorder {
namespace {

const std::filesystem::path kData = SEKISHO_TEST_DATA_DIR "/recordings";

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::uint16_t file_version(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  char b[10] = {};
  in.read(b, sizeof(b));
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(b[8]) << 8 |
                                    static_cast<std::uint8_t>(b[9]));
}

void expect_same(const std::vector<Record>& got, const std::vector<Record>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].kind, want[i].kind) << i;
    EXPECT_EQ(got[i].at_us, want[i].at_us) << i;
    EXPECT_EQ(got[i].data, want[i].data) << i;
    EXPECT_EQ(got[i].cols, want[i].cols) << i;
    EXPECT_EQ(got[i].rows, want[i].rows) << i;
    EXPECT_EQ(got[i].transfer.path, want[i].transfer.path) << i;
    EXPECT_EQ(got[i].transfer.sha256, want[i].transfer.sha256) << i;
  }
}

// A kept sample: it verifies with its signer's key (pinned), names the version it claims, and
// replays exactly the records `want` (or, for a sealed sample, their prefix up to the seal).
void check_sample(const std::string& dir, std::uint16_t version, std::size_t records) {
  const auto file = kData / dir / "sample.skr";
  ASSERT_TRUE(std::filesystem::exists(file)) << file;
  EXPECT_EQ(file_version(file), version);
  auto report = verify(file, read_text(kData / dir / "signing.pub"));
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems.front());
  EXPECT_TRUE(report->key_pinned);
  EXPECT_EQ(report->header.session_id, "format-sample");

  auto reader = Reader::open(file, [](const Header& h, ByteView wrapped) {
    return unwrap_data_key(testing::format_sample_key(), h.session_id, wrapped);
  });
  ASSERT_TRUE(reader.has_value()) << reader.error().message;
  std::vector<Record> got;
  auto r = (*reader)->replay(0, [&](const Record& rec) {
    got.push_back(rec);
    return true;
  });
  ASSERT_TRUE(r.has_value()) << r.error().message;
  auto want = testing::format_sample_records();
  want.resize(records);
  expect_same(got, want);
}

TEST(FormatVersions, Version1ClosedByItsWorkerStillVerifiesAndReplays) {
  check_sample("v1", 1, testing::format_sample_records().size());
}

TEST(FormatVersions, Version2ClosedByItsWorkerStillVerifiesAndReplays) {
  check_sample("v2", 2, testing::format_sample_records().size());
}

TEST(FormatVersions, Version2SealedByTheCoreStillVerifiesAndReplaysToTheSeal) {
  check_sample("v2-sealed", 2, testing::kSealedSampleRecords);
  auto report = verify(kData / "v2-sealed" / "sample.skr", std::nullopt);
  ASSERT_TRUE(report && report->seal);
  EXPECT_EQ(report->seal->reason, SealReason::kGatewayStopped);
}

TEST(FormatVersions, EveryVersionTheWriterMayWriteIsKept) {
  EXPECT_EQ(format::kVersion, 2) << "a new version needs its sample in tests/data/recordings";
  EXPECT_EQ(format::kOldestVersion, 1);
}

}  // namespace
}  // namespace sekisho::recorder
