// Start-up sealing (seal_open_sessions): a session a killed gateway left open, with a recording
// whose writer never closed it, ends as incomplete "gateway stopped" with the seal's hash, audited
// as session.end; a writer that still holds the file is stopped first.
#include "broker/sessions/session_seal.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage/hosts.hpp"
#include "storage/users.hpp"
#include "storage/vault.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::broker {
namespace {

class SessionSealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = t->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto user = storage::create_user(
          tx, {"alice", "x", {"requester"}, false, "2026-01-01T00:00:00.000Z"});
      if (!user) return tl::make_unexpected(user.error());
      auto host = storage::insert_host(tx, testing::test_host());
      if (!host) return tl::make_unexpected(host.error());
      auto acc = storage::add_account(tx, *host, "root", "password", random_secret(16),
                                      std::nullopt, "2026-01-01T00:00:00.000Z");
      if (!acc) return tl::make_unexpected(acc.error());
      return ok();
    });
    ASSERT_TRUE(r) << r.error().message;
    std::filesystem::create_directories(dir.recordings());
  }

  // An open session row and its recording file, as a worker writes it: header and chunks.
  // Returns the writer (the caller destroys it without close, as a killed worker leaves it).
  std::unique_ptr<recorder::Writer> open_session(const std::string& id) {
    storage::SessionTarget target;
    EXPECT_TRUE(t->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto found = storage::resolve_session_target(tx, "alice", "root", "web01");
      if (!found) return tl::make_unexpected(found.error());
      target = *found;
      return ok();
    }));
    EXPECT_TRUE(t->store->transact([&](storage::Store::Tx& tx) {
      return storage::insert_session(
          tx, {id, std::nullopt, target, "2026-03-01T10:00:00.000Z", "recordings/" + id + ".skr"});
    }));
    auto key = recorder::new_data_key(*storage::recording_key(*t->store), id);
    recorder::Header h;
    h.session_id = id;
    h.user = "alice";
    h.host = "web01";
    h.account = "root";
    h.protocol = "ssh";
    auto w = recorder::Writer::create(dir.recordings() / (id + ".skr"), h, std::move(*key),
                                      signer.public_pem());
    EXPECT_TRUE(w) << w.error().message;
    recorder::Record r;
    r.at_us = 1234;
    r.data = "uptime\r\n";
    EXPECT_EQ((*w)->append(r), recorder::AppendStatus::kOk);
    return std::move(*w);
  }

  storage::SessionRecord row(const std::string& id) {
    std::optional<storage::SessionRecord> out;
    EXPECT_TRUE(t->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto found = storage::find_session(tx, id);
      if (!found) return tl::make_unexpected(found.error());
      out = *found;
      return ok();
    }));
    return out.value_or(storage::SessionRecord{});
  }

  std::string session_end_details() {
    std::string details;
    EXPECT_TRUE(t->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto q = tx.prepare("SELECT details FROM audit_events WHERE action = 'session.end'");
      if (!q) return tl::make_unexpected(q.error());
      auto found = q->step();
      if (found && *found) details = q->column_text(0);
      return ok();
    }));
    return details;
  }

  std::unique_ptr<testing::TestStore> t = testing::make_test_store();
  storage::DataDir dir{t->dir.path()};
  SigningKey signer = *SigningKey::generate();
  SealContext ctx{*t->store, *t->log, dir, signer, t->clock};
};

TEST_F(SessionSealTest, OpenSessionIsSealedAsIncompleteGatewayStoppedAndAudited) {
  open_session("s1").reset();  // the worker died with the gateway: chunks, no closing record
  auto sealed = seal_open_sessions(ctx, std::chrono::milliseconds(100));
  ASSERT_TRUE(sealed) << sealed.error().message;
  EXPECT_EQ(*sealed, 1u);
  const auto s = row("s1");
  EXPECT_EQ(s.state(), "incomplete");
  EXPECT_EQ(s.end_reason, "gateway stopped");
  ASSERT_FALSE(s.recording_hash.empty());
  auto report = recorder::verify(dir.recordings() / "s1.skr", signer.public_pem());
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
  ASSERT_TRUE(report->seal);
  EXPECT_EQ(report->seal->reason, recorder::SealReason::kGatewayStopped);
  EXPECT_EQ(report->final_hash, s.recording_hash);
  EXPECT_EQ(s.recording_size, std::filesystem::file_size(dir.recordings() / "s1.skr"));
  const std::string details = session_end_details();
  EXPECT_NE(details.find("gateway stopped"), std::string::npos) << details;
  EXPECT_NE(details.find(s.recording_hash), std::string::npos) << details;
  EXPECT_NE(details.find("\"recording_sealed\":true"), std::string::npos) << details;
  // Nothing left to seal at the next start.
  EXPECT_EQ(*seal_open_sessions(ctx, std::chrono::milliseconds(100)), 0u);
}

TEST_F(SessionSealTest, MissingRecordingStillEndsTheSessionWithWhy) {
  open_session("s2").reset();
  std::filesystem::remove(dir.recordings() / "s2.skr");
  ASSERT_TRUE(seal_open_sessions(ctx, std::chrono::milliseconds(100)));
  const auto s = row("s2");
  EXPECT_EQ(s.state(), "incomplete");
  EXPECT_TRUE(s.recording_hash.empty());
  EXPECT_NE(s.end_reason.find("gateway stopped; recording not sealed"), std::string::npos)
      << s.end_reason;
}

// A worker of the previous run that still writes (its core died; it does not know yet): the core
// waits its grace, kills it by the lock's pid, then seals.
TEST_F(SessionSealTest, LingeringWriterIsKilledThenTheRecordingSealed) {
  open_session("s3").reset();
  std::filesystem::remove(dir.recordings() / "s3.skr");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child is the lingering worker: it holds the recording open with a live writer.
    auto key = recorder::new_data_key(random_secret(32), "s3");
    recorder::Header h;
    h.session_id = "s3";
    auto w = recorder::Writer::create(dir.recordings() / "s3.skr", h, std::move(*key),
                                      signer.public_pem());
    recorder::Record r;
    r.at_us = 5;
    r.data = "still here";
    if (!w || (*w)->append(r) != recorder::AppendStatus::kOk) ::_exit(3);
    (void)!::write(ready[1], "x", 1);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  auto sealed = seal_open_sessions(ctx, std::chrono::milliseconds(200));
  int status = 0;
  const pid_t reaped = ::waitpid(child, &status, 0);
  ASSERT_TRUE(sealed) << sealed.error().message;
  EXPECT_EQ(reaped, child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  const auto s = row("s3");
  EXPECT_EQ(s.state(), "incomplete");
  EXPECT_FALSE(s.recording_hash.empty()) << s.end_reason;
}

}  // namespace
}  // namespace sekisho::broker
