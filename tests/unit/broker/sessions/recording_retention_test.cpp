// The recordings' disk over a real encrypted store and a test clock: retention deletes exactly
// the recordings of sessions that ended more than `keep` ago (never an open one), audits each,
// keeps the rows; the cap and the free-space floor refuse new sessions at the documented edges.
#include "broker/sessions/recording_retention.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "recorder/recording.hpp"
#include "storage/hosts.hpp"
#include "storage/sessions.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// --- The cap and the floor (pure) -----------------------------------------------------------

TEST(RecordingDiskFull, NoCapAndNoFloorNeverRefuse) {
  const RecordingsConfig none{0, 0, 0s};
  EXPECT_FALSE(recording_disk_full(none, {UINT64_C(1) << 60, 0}));
}

TEST(RecordingDiskFull, CapIsReachedAtExactlyMaxTotalBytes) {
  const RecordingsConfig cap{1000, 0, 0s};
  EXPECT_FALSE(recording_disk_full(cap, {999, 1}));
  auto full = recording_disk_full(cap, {1000, 1});
  ASSERT_TRUE(full);
  EXPECT_EQ(*full, "recordings take 1000 bytes, max_total_bytes is 1000");
  EXPECT_TRUE(recording_disk_full(cap, {5000, UINT64_C(1) << 40}));
}

TEST(RecordingDiskFull, FloorIsReachedBelowMinFreeBytes) {
  const RecordingsConfig floor{0, 4096, 0s};
  EXPECT_FALSE(recording_disk_full(floor, {UINT64_C(1) << 50, 4096}));
  auto full = recording_disk_full(floor, {0, 4095});
  ASSERT_TRUE(full);
  EXPECT_EQ(*full, "4095 bytes free on the recordings' disk, min_free_bytes is 4096");
}

TEST(RecordingDiskFull, MeasureSumsEveryFileAndAMissingDirectoryHoldsNothing) {
  testing::TempDir tmp;
  auto empty = measure_recording_disk(tmp.path() / "recordings");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->recordings_bytes, 0u);
  EXPECT_GT(empty->free_bytes, 0u);
  fs::create_directory(tmp.path() / "recordings");
  std::ofstream(tmp.path() / "recordings" / "a.skr") << std::string(1000, 'a');
  std::ofstream(tmp.path() / "recordings" / "a.skr.seek") << std::string(24, 's');
  std::ofstream(tmp.path() / "recordings" / "b.skr") << std::string(3, 'b');
  auto used = measure_recording_disk(tmp.path() / "recordings");
  ASSERT_TRUE(used) << used.error().message;
  EXPECT_EQ(used->recordings_bytes, 1027u);
}

TEST(RecordingDiskFull, CheckRefusesWithTheLimitInTheMessage) {
  testing::TempDir tmp;
  const storage::DataDir dir(tmp.path());
  EXPECT_TRUE(check_recording_room({10, 0, 0s}, dir));
  fs::create_directory(dir.recordings());
  std::ofstream(dir.recordings() / "a.skr") << std::string(10, 'a');
  auto r = check_recording_room({10, 0, 0s}, dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message, "recordings take 10 bytes, max_total_bytes is 10");
  EXPECT_TRUE(check_recording_room({11, 0, 0s}, dir));
}

// --- Retention --------------------------------------------------------------------------------

class RecordingRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = testing::make_test_store();
    dir_ = std::make_unique<storage::DataDir>(t_->dir.path());
    fs::create_directory(dir_->recordings());
    ASSERT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto user = storage::create_user(tx, {"alice", "x", {"requester"}, false, kCreated});
      if (!user) return tl::make_unexpected(user.error());
      auto h = testing::test_host();
      h.created_at = kCreated;
      auto host = storage::insert_host(tx, h);
      if (!host) return tl::make_unexpected(host.error());
      auto acct = storage::add_account(tx, *host, "root", "password",
                                       Secret::copy_of(std::string_view("root-Secret-1")),
                                       std::nullopt, kCreated);
      if (!acct) return tl::make_unexpected(acct.error());
      return ok();
    }));
  }

  // A session started now with a recording file (and its index files); ended `ended_after`
  // later unless nullopt (then it stays open). The clock is left at the session's end.
  std::string session(std::optional<std::chrono::seconds> ended_after) {
    const std::string id = storage::new_session_id();
    const std::string relative = "recordings/" + id + ".skr";
    const fs::path file = dir_->root() / relative;
    std::ofstream(file) << "recording of " << id;
    std::ofstream(recorder::seek_index_path(file)) << "seek";
    std::ofstream(recorder::text_index_path(file)) << "text";
    EXPECT_TRUE(t_->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto target = storage::resolve_session_target(tx, "alice", "root", "web01");
      if (!target) return tl::make_unexpected(target.error());
      storage::NewSession row{id, std::nullopt, *target, format_time(t_->clock.now()), relative};
      if (auto r = storage::insert_session(tx, row); !r) return r;
      if (!ended_after) return ok();
      t_->clock.advance(*ended_after);
      storage::SessionEnd end{format_time(t_->clock.now()), "exit 0", "hash-" + id, 20, 1};
      return storage::finish_session(tx, id, end);
    }));
    return id;
  }

  storage::SessionRecord row(const std::string& id) {
    storage::SessionRecord out;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s = storage::find_session(tx, id);
      if (!s) return tl::make_unexpected(s.error());
      if (*s) out = **s;
      return ok();
    }));
    return out;
  }

  bool kept(const std::string& id) {
    const fs::path file = dir_->recordings() / (id + ".skr");
    const bool files = fs::exists(file);
    EXPECT_EQ(files, fs::exists(recorder::seek_index_path(file))) << id;
    EXPECT_EQ(files, fs::exists(recorder::text_index_path(file))) << id;
    EXPECT_EQ(files, row(id).recording_deleted_at.empty()) << id;
    return files;
  }

  std::vector<std::string> audit(const std::string& action) {
    std::vector<std::string> out;
    EXPECT_TRUE(t_->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare(
          "SELECT actor || ' ' || target || ' ' || details FROM audit_events "
          "WHERE action = ? ORDER BY seq");
      s->bind(1, action);
      while (*s->step()) out.push_back(s->column_text(0));
      return ok();
    }));
    return out;
  }

  RecordingRetention retention(std::chrono::seconds keep) {
    return RecordingRetention(*t_->store, *t_->log, *dir_, t_->clock, keep);
  }

  static constexpr char kCreated[] = "2026-01-01T00:00:00.000Z";
  std::unique_ptr<testing::TestStore> t_;
  std::unique_ptr<storage::DataDir> dir_;
};

TEST_F(RecordingRetentionTest, DeletesExactlyTheRecordingsThatEndedMoreThanKeepAgo) {
  const std::string old_one = session(10min);  // ends at T+10m
  t_->clock.advance(1h);
  const std::string open_one = session(std::nullopt);  // starts at T+70m, never ends
  const std::string edge = session(5min);              // ends at T+75m
  t_->clock.advance(1s);
  const std::string young = session(1s);  // ends at T+75m+2s
  // Now: exactly `keep` after `edge` ended, plus one second.
  auto r = retention(400 * 24h);
  t_->clock.set(parse_time(row(edge).ended_at).value() + 400 * 24h + 1s);

  auto deleted = r.run();
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_EQ(*deleted, 2u);
  EXPECT_FALSE(kept(old_one));
  EXPECT_FALSE(kept(edge));
  EXPECT_TRUE(kept(young));     // ended one second less than keep ago
  EXPECT_TRUE(kept(open_one));  // open sessions are never touched, however old
  EXPECT_EQ(row(old_one).recording_deleted_at, format_time(t_->clock.now()));
  EXPECT_EQ(row(old_one).recording_hash, "hash-" + old_one);  // the row keeps what it proved
  EXPECT_EQ(row(old_one).state(), "closed");

  const auto events = audit("recording.deleted");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].find("sekishod root@web01 "), std::string::npos) << events[0];
  EXPECT_NE(events[0].find("\"session\":\"" + old_one + "\""), std::string::npos) << events[0];
  EXPECT_NE(events[0].find("\"recording_hash\":\"hash-" + old_one + "\""), std::string::npos);
  EXPECT_NE(events[0].find("\"keep\":\"400d\""), std::string::npos) << events[0];
  EXPECT_NE(events[1].find("\"session\":\"" + edge + "\""), std::string::npos) << events[1];

  // Nothing more is due; a second later the young one is.
  auto again = r.run();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u);
  t_->clock.advance(2s);
  again = r.run();
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 1u);
  EXPECT_FALSE(kept(young));
  EXPECT_TRUE(kept(open_one));
  EXPECT_EQ(audit("recording.deleted").size(), 3u);
}

TEST_F(RecordingRetentionTest, KeepZeroDeletesNothing) {
  const std::string id = session(1s);
  t_->clock.advance(10000 * 24h);
  auto r = retention(0s);
  auto deleted = r.run();
  ASSERT_TRUE(deleted);
  EXPECT_EQ(*deleted, 0u);
  EXPECT_TRUE(kept(id));
}

TEST_F(RecordingRetentionTest, AFileAlreadyGoneIsStillMarkedAndAudited) {
  const std::string id = session(1s);
  fs::remove(dir_->recordings() / (id + ".skr"));
  t_->clock.advance(2h);
  auto r = retention(1h);
  auto deleted = r.run();
  ASSERT_TRUE(deleted) << deleted.error().message;
  EXPECT_EQ(*deleted, 1u);
  EXPECT_FALSE(kept(id));
  EXPECT_EQ(audit("recording.deleted").size(), 1u);
}

TEST_F(RecordingRetentionTest, ARowPointingOutsideTheRecordingsIsNotFollowed) {
  const std::string id = session(1s);
  const fs::path outside = t_->dir.path() / "precious";
  std::ofstream(outside) << "not a recording";
  t_->tamper("UPDATE sessions SET recording_path = '../precious' WHERE id = '" + id + "'");
  t_->clock.advance(2h);
  auto r = retention(1h);
  auto deleted = r.run();
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, ErrorCode::kCorrupt);
  EXPECT_TRUE(fs::exists(outside));
  EXPECT_TRUE(row(id).recording_deleted_at.empty());
}

TEST_F(RecordingRetentionTest, PassesRunOnlyWhenDue) {
  auto r = retention(100s);  // a pass every 10 s
  const std::string first = session(1s);
  t_->clock.advance(95s);
  auto n = r.run_if_due();  // the first call runs a pass: nothing has expired yet
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  t_->clock.advance(6s);  // `first` expired, but the next pass is 10 s after the last
  n = r.run_if_due();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_TRUE(kept(first));
  t_->clock.advance(4s);
  n = r.run_if_due();
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(kept(first));
}

}  // namespace
}  // namespace sekisho::broker
