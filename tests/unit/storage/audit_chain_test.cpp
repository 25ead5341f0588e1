// Every kind of tampering with the audit chain is detected and named.
#include <gtest/gtest.h>

#include <vector>

#include "base/crypto.hpp"
#include "storage/audit_checkpoint.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::storage {
namespace {

using sekisho::testing::make_test_store;
using sekisho::testing::test_event;
using sekisho::testing::TestStore;

class AuditChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = make_test_store();
    ASSERT_TRUE(t_->log);
    for (int i = 1; i <= 10; ++i) {
      auto seq = t_->log->append(test_event(i));
      ASSERT_TRUE(seq) << seq.error().message;
      EXPECT_EQ(*seq, i);
      t_->clock.advance(std::chrono::seconds(1));
    }
  }

  AuditVerifyReport verify(std::span<const AuditCheckpoint> checkpoints = {}) {
    auto r = t_->log->verify(checkpoints);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : AuditVerifyReport{};
  }

  void expect_broken(const AuditVerifyReport& r, std::int64_t seq, const std::string& word) {
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.first_bad_seq, seq) << r.problem;
    EXPECT_NE(r.problem.find(word), std::string::npos) << r.problem;
  }

  std::unique_ptr<TestStore> t_;
};

TEST_F(AuditChainTest, UntouchedChainVerifies) {
  const auto r = verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.events, 10);
  auto head = t_->log->head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->seq, 10);
}

TEST_F(AuditChainTest, EditedFieldsAreDetected) {
  for (const char* column : {"actor", "action", "target", "details", "time"}) {
    auto t = make_test_store();
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(t->log->append(test_event(i)));
    t->tamper(std::string("UPDATE audit_events SET ") + column + " = " + column +
              " || 'x' WHERE seq = 3");
    auto r = t->log->verify({});
    ASSERT_TRUE(r);
    expect_broken(*r, 3, "altered");
  }
}

TEST_F(AuditChainTest, DeletedRowIsDetected) {
  t_->tamper("DELETE FROM audit_events WHERE seq = 4");
  expect_broken(verify(), 4, "missing");
}

TEST_F(AuditChainTest, DeletedAndRenumberedRowIsDetected) {
  t_->tamper(
      "DELETE FROM audit_events WHERE seq = 4;"
      "UPDATE audit_events SET seq = seq + 1000 WHERE seq > 4;"
      "UPDATE audit_events SET seq = seq - 1001 WHERE seq > 1000;");
  expect_broken(verify(), 4, "does not follow");
}

TEST_F(AuditChainTest, InsertedForgedRowIsDetected) {
  // Make room at seq 6 and insert an event with a made-up hash.
  t_->tamper(
      "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 6;"
      "UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000;"
      "INSERT INTO audit_events SELECT 6, time, 'mallory', action, target, details, hash,"
      " randomblob(32) FROM audit_events WHERE seq = 5;");
  expect_broken(verify(), 6, "altered");
}

TEST_F(AuditChainTest, ReplayedCopyOfAValidRowIsDetected) {
  // A genuine row copied to the end is self-consistent but does not link to the head.
  t_->tamper(
      "INSERT INTO audit_events SELECT 11, time, actor, action, target, details, prev_hash,"
      " hash FROM audit_events WHERE seq = 3");
  expect_broken(verify(), 11, "does not follow");
}

TEST_F(AuditChainTest, SwappedRowsAreDetected) {
  t_->tamper(
      "UPDATE audit_events SET seq = 1003 WHERE seq = 3;"
      "UPDATE audit_events SET seq = 3 WHERE seq = 7;"
      "UPDATE audit_events SET seq = 7 WHERE seq = 1003;");
  expect_broken(verify(), 3, "does not follow");
}

TEST_F(AuditChainTest, TruncatedTailIsDetectedByTheSignedCheckpoint) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key);
  const auto file = t_->dir.path() / "checkpoints.jsonl";
  auto cp = write_checkpoint(*t_->log, *key, file, t_->clock);
  ASSERT_TRUE(cp && cp->has_value());
  EXPECT_EQ((*cp)->seq, 10);
  auto checkpoints = read_checkpoints(file, key->public_pem());
  ASSERT_TRUE(checkpoints) << checkpoints.error().message;
  ASSERT_EQ(checkpoints->size(), 1u);

  auto before = verify(*checkpoints);
  EXPECT_TRUE(before.ok) << before.problem;
  EXPECT_EQ(before.checkpoints_matched, 1);

  t_->tamper("DELETE FROM audit_events WHERE seq > 7");
  EXPECT_TRUE(verify().ok) << "without a checkpoint a cut tail is invisible";
  expect_broken(verify(*checkpoints), 8, "truncated");
}

TEST_F(AuditChainTest, ChainRewrittenWithTheKeyIsDetectedByTheCheckpoint) {
  auto key = SigningKey::generate();
  const auto file = t_->dir.path() / "checkpoints.jsonl";
  ASSERT_TRUE(write_checkpoint(*t_->log, *key, file, t_->clock));
  // An attacker who holds the master key can recompute every hash after an edit.
  auto audit_key = t_->store->get_setting("audit_key");
  ASSERT_TRUE(audit_key && audit_key->has_value());
  auto mac = HmacSha256::create(**audit_key);
  ASSERT_TRUE(mac);
  t_->tamper("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5");
  ASSERT_TRUE(t_->store->transact([&](Store::Tx& tx) -> Result<void> {
    auto rows = tx.prepare(
        "SELECT seq, time, actor, action, target, details FROM audit_events ORDER BY seq");
    Digest prev{};
    std::vector<std::pair<std::int64_t, std::pair<Digest, Digest>>> fixed;
    while (*rows->step()) {
      const std::string c =
          canonical_audit_event(rows->column_text(1), rows->column_text(2), rows->column_text(3),
                                rows->column_text(4), rows->column_text(5));
      const Digest h = mac->mac({ByteView(prev), as_bytes(c)});
      fixed.push_back({rows->column_int(0), {prev, h}});
      prev = h;
    }
    for (const auto& [seq, hashes] : fixed) {
      auto up = tx.prepare("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?");
      up->bind_blob(1, hashes.first).bind_blob(2, hashes.second).bind(3, seq);
      if (auto r = up->run(); !r) return r;
    }
    return ok();
  }));
  EXPECT_TRUE(verify().ok) << "a rewritten chain is self-consistent";
  auto checkpoints = read_checkpoints(file, key->public_pem());
  ASSERT_TRUE(checkpoints);
  expect_broken(verify(*checkpoints), 10, "checkpoint");
}

TEST_F(AuditChainTest, ForgedCheckpointSignatureIsRefused) {
  auto key = SigningKey::generate();
  auto other = SigningKey::generate();
  const auto file = t_->dir.path() / "checkpoints.jsonl";
  ASSERT_TRUE(write_checkpoint(*t_->log, *key, file, t_->clock));
  auto r = read_checkpoints(file, other->public_pem());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("signature"), std::string::npos) << r.error().message;
}

TEST_F(AuditChainTest, CheckpointIsSkippedWhenHeadUnchanged) {
  auto key = SigningKey::generate();
  const auto file = t_->dir.path() / "checkpoints.jsonl";
  auto first = write_checkpoint(*t_->log, *key, file, t_->clock);
  ASSERT_TRUE(first && first->has_value());
  auto second = write_checkpoint(*t_->log, *key, file, t_->clock, (*first)->seq);
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->has_value());
}

TEST_F(AuditChainTest, EventRolledBackWithItsTransactionLeavesNoGap) {
  auto r = t_->store->transact([&](Store::Tx& tx) -> Result<void> {
    auto seq = t_->log->append(tx, test_event(99));
    EXPECT_TRUE(seq);
    return fail(ErrorCode::kInvalidArgument, "the business change failed");
  });
  EXPECT_FALSE(r);
  auto seq = t_->log->append(test_event(11));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 11);
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditChainTest, RefusesOversizedOrNamelessEvents) {
  EXPECT_FALSE(t_->log->append({"a", "", "t", {}}));
  EXPECT_FALSE(t_->log->append({std::string(70000, 'a'), "x", "t", {}}));
  EXPECT_FALSE(t_->log->append({"a", "x", "t", {{"blob", std::string(70000, 'b')}}}));
  EXPECT_EQ(t_->log->head()->seq, 10);
}

TEST(AuditChainLarge, HundredThousandEventsVerify) {
  auto t = make_test_store();
  std::vector<AuditEvent> batch;
  for (int i = 0; i < 10000; ++i) batch.push_back(test_event(i));
  for (int b = 0; b < 10; ++b) ASSERT_TRUE(t->log->append_batch(batch));
  auto r = t->log->verify({});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok) << r->problem;
  EXPECT_EQ(r->events, 100000);
}

}  // namespace
}  // namespace sekisho::storage
