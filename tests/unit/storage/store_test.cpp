#include "storage/store.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "base/crypto.hpp"
#include "storage/schema.hpp"
#include "tests/support/test_store.hpp"
#include "tests/unit/storage/undo_v8.hpp"

namespace sekisho::storage {
namespace {

using sekisho::testing::make_test_store;
using sekisho::testing::TempDir;

std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Store, CreateAppliesEveryMigration) {
  auto t = make_test_store();
  EXPECT_EQ(t->store->schema_version(), latest_schema_version());
  EXPECT_EQ(latest_schema_version(), static_cast<int>(migrations().size()));
  for (const char* table : {"settings", "users", "user_roles", "ssh_keys", "hosts", "accounts",
                            "credentials", "requests", "reviews", "sessions", "audit_events"}) {
    bool found = false;
    ASSERT_TRUE(t->store->read([&](Store::Tx& tx) -> Result<void> {
      auto s = tx.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
      s->bind(1, std::string_view(table));
      found = *s->step();
      return ok();
    }));
    EXPECT_TRUE(found) << table;
  }
}

TEST(Store, CreateRefusesAnExistingFile) {
  auto t = make_test_store();
  auto again = Store::create(t->db_path(), t->key);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST(Store, WrongKeyIsRefusedWithOneLine) {
  auto t = make_test_store();
  t->log.reset();
  t->store.reset();
  auto r = Store::open(t->db_path(), random_secret(32), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(r.error().message.find("master key does not open"), std::string::npos);
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
}

TEST(Store, PlaintextSqliteFileIsRefused) {
  TempDir dir;
  const auto p = dir.path() / "plain.db";
  std::ofstream(p, std::ios::binary)
      << std::string("SQLite format 3\0", 16) << std::string(4080, '\0');
  auto r = Store::open(p, random_secret(32), {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("plaintext"), std::string::npos) << r.error().message;
}

TEST(Store, MissingStoreSaysRunInit) {
  TempDir dir;
  auto r = Store::open(dir.path() / "none.db", random_secret(32), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("sekishod init"), std::string::npos);
}

TEST(Store, NewerSchemaIsRefused) {
  auto t = make_test_store();
  t->tamper("PRAGMA user_version = 999;");
  t->log.reset();
  t->store.reset();
  auto r = Store::open(t->db_path(), t->key, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(r.error().message.find("999"), std::string::npos) << r.error().message;
}

TEST(Store, ReopenKeepsDataAndDoesNotRemigrate) {
  auto t = make_test_store();
  ASSERT_TRUE(t->log->append(sekisho::testing::test_event(1)));
  t->reopen();
  EXPECT_EQ(t->store->schema_version(), latest_schema_version());
  EXPECT_EQ(t->log->head()->seq, 1);
}

TEST(Store, FailedTransactionRollsBack) {
  auto t = make_test_store();
  auto r = t->store->transact([&](Store::Tx& tx) -> Result<void> {
    if (auto e = t->store->put_setting(tx, "x", as_bytes("1")); !e) return e;
    return fail(ErrorCode::kInternal, "boom");
  });
  EXPECT_FALSE(r);
  auto v = t->store->get_setting("x");
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->has_value());
}

TEST(Store, FileAndWalHoldNoPlaintext) {
  auto t = make_test_store();
  const std::string marker = "PLAINTEXT-MARKER-7f3a";
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(t->log->append({"alice", "test.event", marker, {{"marker", marker}}}));
  }
  const std::string hex_key = hex_encode(t->key.bytes());
  // While open, recent pages live in the WAL; check both, then again after close.
  for (int pass = 0; pass < 2; ++pass) {
    for (const char* suffix : {"", "-wal"}) {
      auto p = t->db_path();
      p += suffix;
      if (!std::filesystem::exists(p)) continue;
      const std::string bytes = file_bytes(p);
      EXPECT_EQ(bytes.find(marker), std::string::npos) << p;
      EXPECT_EQ(bytes.find("audit_events"), std::string::npos) << p;
      EXPECT_EQ(bytes.find("SQLite format 3"), std::string::npos) << p;
      EXPECT_EQ(bytes.find(hex_key), std::string::npos) << p;
    }
    t->log.reset();
    t->store.reset();
  }
}

TEST(Store, RekeyReencryptsWithoutLosingData) {
  auto t = make_test_store();
  for (int i = 1; i <= 20; ++i) ASSERT_TRUE(t->log->append(sekisho::testing::test_event(i)));
  const Secret next = random_secret(32);
  auto r = t->store->rekey(next);
  ASSERT_TRUE(r) << r.error().message;
  t->log.reset();
  t->store.reset();
  EXPECT_FALSE(Store::open(t->db_path(), t->key, {})) << "the old key must no longer open it";
  t->key = Secret::copy_of(next.bytes());
  t->reopen();
  auto report = t->log->verify({});
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events, 20);
  ASSERT_TRUE(t->log->append(sekisho::testing::test_event(21)));
}

// A store from before token scopes (schema 4) opens and migrates: its tokens become "full", except
// those with no roles, which may have been enrolment-only and are revoked.
TEST(Store, TokensFromBeforeScopesAreFullOrRevoked) {
  auto t = make_test_store();
  // Back to version 4 as it was: the tables later versions changed (api_tokens by 5, sessions by
  // 6, hosts and accounts by 8) are made again as version 4 had them, so that every later
  // migration runs on reopen.
  t->tamper(std::string(kUndoV8) + R"sql(
DROP TABLE api_tokens;
CREATE TABLE api_tokens (
  token_hash BLOB PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  roles      TEXT NOT NULL,
  source     TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked    INTEGER NOT NULL DEFAULT 0
);
DROP TABLE sessions;
CREATE TABLE sessions (
  id               TEXT PRIMARY KEY,
  request_id       TEXT REFERENCES requests(id),
  user_id          INTEGER NOT NULL REFERENCES users(id),
  account_id       INTEGER NOT NULL REFERENCES accounts(id),
  protocol         TEXT NOT NULL CHECK (protocol IN ('ssh', 'rdp')),
  started_at       TEXT NOT NULL,
  ended_at         TEXT,
  recording_path   TEXT,
  recording_hash   TEXT,
  recording_size   INTEGER,
  end_reason       TEXT,
  duration_us      INTEGER
);
CREATE INDEX sessions_by_started ON sessions(started_at);
CREATE INDEX sessions_by_user ON sessions(user_id, started_at);
INSERT INTO users (id, name, created_at) VALUES (1, 'alice', '2026-01-01T00:00:00.000Z');
INSERT INTO api_tokens (token_hash, user_id, roles, created_at, expires_at)
  VALUES (x'01', 1, '["requester"]', 'a', 'b'), (x'02', 1, '[]', 'a', 'b');
PRAGMA user_version = 4;
)sql");
  t->reopen();
  EXPECT_EQ(t->store->schema_version(), latest_schema_version());
  std::vector<std::string> rows;
  ASSERT_TRUE(t->store->read([&](Store::Tx& tx) -> Result<void> {
    auto s = tx.prepare("SELECT hex(token_hash), scope, revoked FROM api_tokens ORDER BY 1");
    while (*s->step()) {
      rows.push_back(s->column_text(0) + " " + s->column_text(1) + " " + s->column_text(2));
    }
    return ok();
  }));
  EXPECT_EQ(rows, (std::vector<std::string>{"01 full 0", "02 full 1"}));
  // Version 6: sessions carry when retention deleted their recording.
  EXPECT_TRUE(t->store->read([&](Store::Tx& tx) -> Result<void> {
    auto s = tx.prepare("SELECT count(recording_deleted_at) FROM sessions");
    if (!s) return tl::make_unexpected(s.error());
    return ok();
  }));
}

}  // namespace
}  // namespace sekisho::storage
