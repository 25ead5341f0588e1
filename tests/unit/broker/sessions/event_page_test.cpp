// Replay pages over the API (read_event_page) against a real recording: records that share a
// timestamp are split across pages without being lost or repeated.
#include <gtest/gtest.h>

#include "broker/sessions/session_recording.hpp"
#include "tests/support/temp_dir.hpp"

namespace sekisho::broker {
namespace {

using sekisho::testing::TempDir;

// Nine output records "r0".."r8" stamped 0,0,0,5,5,5,5,5,9 µs, closed and signed.
std::unique_ptr<recorder::Reader> recording_with_ties(const TempDir& dir) {
  const Secret recording_key = random_secret(32);
  auto data_key = recorder::new_data_key(recording_key, "s1");
  EXPECT_TRUE(data_key);
  auto signer = SigningKey::generate();
  EXPECT_TRUE(signer);
  recorder::Header header;
  header.session_id = "s1";
  header.user = "alice";
  header.host = "web01";
  header.account = "root";
  header.protocol = "ssh";
  const auto path = dir.path() / "s1.skr";
  auto writer = recorder::Writer::create(path, header, std::move(*data_key), signer->public_pem());
  EXPECT_TRUE(writer) << writer.error().message;
  const std::int64_t stamps[] = {0, 0, 0, 5, 5, 5, 5, 5, 9};
  for (int i = 0; i < 9; ++i) {
    recorder::Record r;
    r.at_us = stamps[i];
    r.data = "r" + std::to_string(i);
    EXPECT_EQ((*writer)->append(std::move(r)), recorder::AppendStatus::kOk);
  }
  auto closed = (*writer)->close([&](ByteView m) { return signer->sign(m); });
  EXPECT_TRUE(closed) << closed.error().message;
  auto reader = recorder::Reader::open(path, [&](const recorder::Header& h, ByteView wrapped) {
    return recorder::unwrap_data_key(recording_key, h.session_id, wrapped);
  });
  EXPECT_TRUE(reader) << reader.error().message;
  return std::move(*reader);
}

// Walks every page from (from_us, 0) and returns the records' data joined by spaces, and the page
// count.
std::pair<std::string, int> walk(recorder::Reader& reader, std::int64_t from_us,
                                 std::size_t max_bytes) {
  std::string seen;
  int pages = 0;
  std::optional<std::pair<std::int64_t, std::int64_t>> cursor{{from_us, 0}};
  while (cursor && pages < 100) {
    auto page = read_event_page(reader, cursor->first, cursor->second, max_bytes);
    EXPECT_TRUE(page) << page.error().message;
    if (!page) break;
    ++pages;
    for (const auto& r : page->records) seen += (seen.empty() ? "" : " ") + r.data;
    cursor = page->next;
  }
  return {seen, pages};
}

TEST(EventPage, TiesAreNeitherLostNorRepeatedAtAnyPageSize) {
  TempDir dir;
  auto reader = recording_with_ties(dir);
  ASSERT_TRUE(reader);
  const std::string all = "r0 r1 r2 r3 r4 r5 r6 r7 r8";
  // 1 byte: one record per page; 140: two records (2 + 64 bytes each); large: one page.
  for (const auto& [max_bytes, pages] :
       {std::pair<std::size_t, int>{1, 9}, {140, 5}, {1 << 20, 1}}) {
    const auto [seen, count] = walk(*reader, 0, max_bytes);
    EXPECT_EQ(seen, all) << max_bytes;
    EXPECT_EQ(count, pages) << max_bytes;
  }
}

TEST(EventPage, StartsAtTheOffsetAndSkipsWhatThePreviousPageHeld) {
  TempDir dir;
  auto reader = recording_with_ties(dir);
  ASSERT_TRUE(reader);
  EXPECT_EQ(walk(*reader, 5, 1).first, "r3 r4 r5 r6 r7 r8");
  EXPECT_EQ(walk(*reader, 6, 1).first, "r8");
  auto page = read_event_page(*reader, 5, 2, 140);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->records.size(), 2u);
  EXPECT_EQ(page->records[0].data, "r5");
  EXPECT_EQ(page->next, (std::pair<std::int64_t, std::int64_t>{5, 4}));
  auto end = read_event_page(*reader, 10, 0, 140);
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->records.empty());
  EXPECT_FALSE(end->next);
}

}  // namespace
}  // namespace sekisho::broker
