#include "storage/jobs.hpp"

#include "tests/unit/storage/rotation_fixture.hpp"

namespace sekisho::storage {
namespace {

struct Jobs : RotationStoreTest {
  JobRow job(const std::string& id, std::int64_t owner, const std::string& created) {
    JobRow j;
    j.id = id;
    j.kind = "rotate";
    j.owner_id = owner;
    j.description = "rotate --all";
    j.total = 10;
    j.created_at = created;
    return j;
  }
  std::optional<JobRow> get(const std::string& id) {
    std::optional<JobRow> out;
    EXPECT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
      auto j = find_job(tx, id);
      if (!j) return tl::make_unexpected(j.error());
      out = *j;
      return ok();
    }));
    return out;
  }
};

TEST_F(Jobs, InsertProgressFinish) {
  ASSERT_TRUE(run([&](Store::Tx& tx) { return insert_job(tx, job("j1", alice, kT0)); }));
  auto j = get("j1");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->state, "running");
  EXPECT_EQ(j->owner, "alice");
  EXPECT_EQ(j->total, 10);
  EXPECT_EQ(j->finished_at, "");
  ASSERT_TRUE(run([&](Store::Tx& tx) { return update_job_progress(tx, "j1", 4, 1); }));
  EXPECT_EQ(get("j1")->done, 4);
  EXPECT_EQ(get("j1")->failed, 1);
  ASSERT_TRUE(run([&](Store::Tx& tx) {
    return finish_job(tx, "j1", "done", R"({"web01":"rotated"})", "2026-01-01T00:05:00.000Z");
  }));
  j = get("j1");
  EXPECT_EQ(j->state, "done");
  EXPECT_EQ(j->result, R"({"web01":"rotated"})");
  EXPECT_EQ(j->finished_at, "2026-01-01T00:05:00.000Z");
  EXPECT_FALSE(get("nope"));
}

TEST_F(Jobs, Refusals) {
  ASSERT_TRUE(run([&](Store::Tx& tx) { return insert_job(tx, job("j1", alice, kT0)); }));
  auto dup = run([&](Store::Tx& tx) { return insert_job(tx, job("j1", bob, kT0)); });
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(dup.error().message, "job j1 exists");
  EXPECT_EQ(error_of(run([&](Store::Tx& tx) { return insert_job(tx, job("", bob, kT0)); })),
            "a job needs an id and a kind");
  EXPECT_EQ(error_of(run([&](Store::Tx& tx) { return finish_job(tx, "j1", "running", "", kT0); })),
            "a job cannot finish as 'running'");
  auto missing = run([&](Store::Tx& tx) { return update_job_progress(tx, "nope", 1, 0); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message, "no job nope");
  EXPECT_EQ(error_of(run([&](Store::Tx& tx) { return finish_job(tx, "nope", "done", "", kT0); })),
            "no job nope");
  ASSERT_TRUE(run([&](Store::Tx& tx) { return finish_job(tx, "j1", "failed", "", kT0); }));
  auto late = run([&](Store::Tx& tx) { return update_job_progress(tx, "j1", 5, 0); });
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(late.error().message, "job j1 has already finished (failed)");
  EXPECT_EQ(error_of(run([&](Store::Tx& tx) { return finish_job(tx, "j1", "done", "", kT0); })),
            "job j1 has already finished (failed)");
  EXPECT_EQ(get("j1")->state, "failed");
}

TEST_F(Jobs, ListNewestFirstByOwnerWithLimit) {
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    for (auto [id, owner, at] : {std::tuple{"j1", alice, "2026-01-01T00:00:01.000Z"},
                                 std::tuple{"j2", bob, "2026-01-01T00:00:02.000Z"},
                                 std::tuple{"j3", alice, "2026-01-01T00:00:03.000Z"},
                                 std::tuple{"j4", alice, "2026-01-01T00:00:03.000Z"}}) {
      if (auto r = insert_job(tx, job(id, owner, at)); !r) return r;
    }
    return ok();
  }));
  auto ids = [&](std::optional<std::int64_t> owner, int limit) {
    std::vector<std::string> out;
    EXPECT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
      auto jobs = list_jobs(tx, owner, limit);
      if (!jobs) return tl::make_unexpected(jobs.error());
      for (const auto& j : *jobs) out.push_back(j.id);
      return ok();
    }));
    return out;
  };
  EXPECT_EQ(ids(std::nullopt, 10), (std::vector<std::string>{"j4", "j3", "j2", "j1"}));
  EXPECT_EQ(ids(alice, 10), (std::vector<std::string>{"j4", "j3", "j1"}));
  EXPECT_EQ(ids(alice, 2), (std::vector<std::string>{"j4", "j3"}));
  EXPECT_EQ(ids(bob, 10), (std::vector<std::string>{"j2"}));
}

TEST_F(Jobs, InterruptRunningJobsLeavesFinishedOnes) {
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    for (const char* id : {"j1", "j2", "j3"}) {
      if (auto r = insert_job(tx, job(id, alice, kT0)); !r) return r;
    }
    return finish_job(tx, "j2", "done", "{}", kT0);
  }));
  int interrupted = -1;
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto n = interrupt_running_jobs(tx, "2026-01-02T00:00:00.000Z");
    if (!n) return tl::make_unexpected(n.error());
    interrupted = *n;
    return ok();
  }));
  EXPECT_EQ(interrupted, 2);
  EXPECT_EQ(get("j1")->state, "interrupted");
  EXPECT_EQ(get("j1")->finished_at, "2026-01-02T00:00:00.000Z");
  EXPECT_EQ(get("j2")->state, "done");
  EXPECT_EQ(get("j2")->finished_at, kT0);
  EXPECT_EQ(get("j3")->state, "interrupted");
}

}  // namespace
}  // namespace sekisho::storage
