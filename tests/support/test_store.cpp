#include "tests/support/test_store.hpp"

#include <gtest/gtest.h>

#include "base/crypto.hpp"

namespace sekisho::testing {

void TestStore::tamper(const std::string& sql) {
  auto r = store->transact([&](storage::Store::Tx& tx) { return tx.exec(sql); });
  ASSERT_TRUE(r) << r.error().message;
}

void TestStore::reopen() {
  log.reset();
  store.reset();
  auto s = storage::Store::open(db_path(), key, {});
  ASSERT_TRUE(s) << s.error().message;
  store = std::move(*s);
  auto l = storage::AuditLog::open(*store, clock);
  ASSERT_TRUE(l) << l.error().message;
  log = std::move(*l);
}

std::unique_ptr<TestStore> make_test_store() {
  auto t = std::make_unique<TestStore>();
  t->key = random_secret(32);
  auto s = storage::Store::create(t->db_path(), t->key);
  EXPECT_TRUE(s) << s.error().message;
  if (!s) return t;
  t->store = std::move(*s);
  EXPECT_TRUE(storage::AuditLog::init_audit_key(*t->store, t->key));
  auto l = storage::AuditLog::open(*t->store, t->clock);
  EXPECT_TRUE(l) << l.error().message;
  if (l) t->log = std::move(*l);
  return t;
}

storage::AuditEvent test_event(int n) {
  return {
      "alice", "test.event", "web01", {{"n", n}, {"note", "event number " + std::to_string(n)}}};
}

storage::HostRecord test_host(const std::string& name) {
  storage::HostRecord h;
  h.name = name;
  h.address = "127.0.0.1";
  h.port = 22;
  h.protocol = "ssh";
  h.created_at = "2026-01-01T00:00:00.000Z";
  return h;
}

}  // namespace sekisho::testing
