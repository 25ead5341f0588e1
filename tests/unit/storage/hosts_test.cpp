// Hosts as schema version 8 keeps them: protocol 'ldap', retirement, re-pinning, and the migration
// from version 7 that rebuilt the table without losing what references it.
#include "storage/hosts.hpp"

#include <gtest/gtest.h>

#include "storage/credentials.hpp"
#include "storage/requests.hpp"
#include "storage/sessions.hpp"
#include "tests/unit/storage/rotation_fixture.hpp"
#include "tests/unit/storage/undo_v8.hpp"

namespace sekisho::storage {
namespace {

using Hosts = RotationStoreTest;

// Version 7 holding a host with an account, its current and previous credentials, a request and a
// session.
constexpr char kV7Rows[] = R"sql(
INSERT INTO users (id, name, created_at) VALUES (1, 'alice', '2026-01-01T00:00:00.000Z');
INSERT INTO hosts VALUES (7, 'web07', '127.0.0.7', 2222, 'ssh', 'web', 'ssh-ed25519 AAAA',
                          'SHA256:abc', '2026-01-01T00:00:00.000Z'),
                         (8, 'spare', '127.0.0.8', 22, 'rdp', '', NULL, NULL, 'x');
INSERT INTO accounts VALUES (70, 7, 'root', 86400, '2026-01-01T00:00:00.000Z'),
                            (80, 8, 'Administrator', NULL, 'x');
INSERT INTO credentials VALUES (700, 70, 'password', 'previous', x'6f6c64', 'f0', 'a'),
                               (701, 70, 'password', 'current', x'6e6577', 'f1', 'b'),
                               (800, 80, 'password', 'current', x'727270', 'f2', 'c');
INSERT INTO requests (id, requester_id, account_id, reason, mode, state, start_at, end_at,
                      created_at, updated_at)
  VALUES ('req-1', 1, 70, 'patch', 'checkout', 'closed', 'a', 'b', 'c', 'd');
INSERT INTO sessions (id, request_id, user_id, account_id, protocol, started_at)
  VALUES ('s-1', 'req-1', 1, 70, 'ssh', 'a');
PRAGMA user_version = 7;
)sql";

std::vector<std::string> rows_of(Store& store, const std::string& sql) {
  std::vector<std::string> rows;
  EXPECT_TRUE(store.read([&](Store::Tx& tx) -> Result<void> {
    auto s = tx.prepare(sql);
    if (!s) return tl::make_unexpected(s.error());
    while (*s->step()) rows.push_back(s->column_text(0));
    return ok();
  }));
  return rows;
}

TEST(HostsMigration, Version7StoreKeepsAccountsCredentialsAndRequests) {
  auto t = testing::make_test_store();
  t->tamper(std::string(kUndoV8) + kV7Rows);
  t->reopen();
  ASSERT_EQ(t->store->schema_version(), latest_schema_version());
  Store& s = *t->store;
  EXPECT_EQ(rows_of(s,
                    "SELECT id || ' ' || name || ' ' || address || ' ' || port || ' ' || "
                    "protocol || ' ' || host_group || ' ' || coalesce(host_key, '-') || ' ' || "
                    "coalesce(retired_at, '-') FROM hosts ORDER BY id"),
            (std::vector<std::string>{"7 web07 127.0.0.7 2222 ssh web ssh-ed25519 AAAA -",
                                      "8 spare 127.0.0.8 22 rdp  - -"}));
  EXPECT_EQ(rows_of(s,
                    "SELECT id || ' ' || host_id || ' ' || name || ' ' || rotation_status || "
                    "' [' || last_rotated_at || rotation_due || ']' FROM accounts ORDER BY id"),
            (std::vector<std::string>{"70 7 root current []", "80 8 Administrator current []"}));
  EXPECT_EQ(rows_of(s,
                    "SELECT id || ' ' || account_id || ' ' || state || ' ' || "
                    "CAST(secret AS TEXT) FROM credentials ORDER BY id"),
            (std::vector<std::string>{"700 70 previous old", "701 70 current new",
                                      "800 80 current rrp"}));
  EXPECT_EQ(rows_of(s, "SELECT id || ' ' || account_id FROM requests"),
            std::vector<std::string>{"req-1 70"});
  EXPECT_EQ(rows_of(s, "SELECT id || ' ' || account_id FROM sessions"),
            std::vector<std::string>{"s-1 70"});
  EXPECT_EQ(rows_of(s, "PRAGMA foreign_key_check"), std::vector<std::string>{});
  EXPECT_EQ(rows_of(s, "PRAGMA foreign_keys"), std::vector<std::string>{"1"});
  EXPECT_EQ(rows_of(s, "SELECT name FROM sqlite_master WHERE name LIKE 'hosts%' ORDER BY 1"),
            std::vector<std::string>{"hosts"});
  // The rebuilt table is still the accounts' parent: a cascade from it reaches them.
  ASSERT_TRUE(s.transact([](Store::Tx& tx) { return remove_host(tx, "spare"); }));
  EXPECT_EQ(rows_of(s, "SELECT count(*) FROM credentials WHERE account_id = 80"),
            std::vector<std::string>{"0"});
  auto orphan = s.transact([](Store::Tx& tx) {
    return tx.exec("INSERT INTO accounts (host_id, name, created_at) VALUES (99, 'x', 'y')");
  });
  EXPECT_FALSE(orphan);
}

TEST_F(Hosts, LdapProtocolIsAcceptedAndOthersAreNot) {
  auto h = testing::test_host("corp");
  h.protocol = "ldap";
  h.port = 636;
  ASSERT_TRUE(run([&](Store::Tx& tx) { return insert_host(tx, h).map([](auto) {}); }));
  h.name = "odd";
  h.protocol = "ftp";
  EXPECT_FALSE(run([&](Store::Tx& tx) { return insert_host(tx, h).map([](auto) {}); }));
}

TEST_F(Hosts, RetireKeepsTheHostListedWithItsTime) {
  ASSERT_TRUE(run([&](Store::Tx& tx) { return retire_host(tx, "web01", kT0); }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto hosts = list_hosts(tx);
    EXPECT_EQ(hosts->size(), 2u);
    EXPECT_EQ(hosts->at(0).name, "web01");
    EXPECT_EQ(hosts->at(0).retired_at, kT0);
    EXPECT_EQ(hosts->at(1).retired_at, "");
    EXPECT_EQ((*find_host(tx, "web01"))->retired_at, kT0);
    EXPECT_EQ(list_accounts(tx, web01)->size(), 1u);
    return ok();
  }));
  auto again = run([&](Store::Tx& tx) { return retire_host(tx, "web01", kT0); });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(again.error().message, "host web01 is already retired");
  auto none = run([&](Store::Tx& tx) { return retire_host(tx, "nope", kT0); });
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(none.error().message, "no host nope");
}

TEST_F(Hosts, HistoryDecidesBetweenRemoveAndRetire) {
  add_request("r1", alice, root01);
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    EXPECT_TRUE(*host_has_history(tx, "web01"));
    EXPECT_FALSE(*host_has_history(tx, "web02"));
    return ok();
  }));
  auto kept = run([&](Store::Tx& tx) { return remove_host(tx, "web01"); });
  ASSERT_FALSE(kept);
  EXPECT_EQ(kept.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(kept.error().message,
            "host web01 has 1 request(s) and 0 session(s) on record; it is kept for their "
            "history");
  ASSERT_TRUE(run([&](Store::Tx& tx) { return remove_host(tx, "web02"); }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    EXPECT_FALSE(*find_host(tx, "web02"));
    return ok();
  }));
}

TEST_F(Hosts, RepinReplacesTheKey) {
  ASSERT_TRUE(run([&](Store::Tx& tx) {
    return repin_host_key(tx, "web01", "ssh-ed25519 AAAAnew", "SHA256:new");
  }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto h = find_host(tx, "web01");
    EXPECT_EQ((*h)->host_key, "ssh-ed25519 AAAAnew");
    EXPECT_EQ((*h)->host_key_fingerprint, "SHA256:new");
    EXPECT_EQ((*find_host(tx, "web02"))->host_key, "");
    return ok();
  }));
  auto none = run([&](Store::Tx& tx) { return repin_host_key(tx, "nope", "k", "f"); });
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(none.error().message, "no host nope");
  EXPECT_EQ(error_of(run([&](Store::Tx& tx) { return repin_host_key(tx, "web01", "", "f"); })),
            "a host key and its fingerprint are needed to pin");
}

// A retired host's accounts take no new session; requests and their admission see the mark.
TEST_F(Hosts, RetiredHostRefusesSessionTargets) {
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    EXPECT_TRUE(resolve_session_target(tx, "alice", "root", "web01"));
    EXPECT_FALSE((*find_account_ref(tx, "web01", "root"))->host_retired);
    return retire_host(tx, "web01", kT0);
  }));
  ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
    auto target = resolve_session_target(tx, "alice", "root", "web01");
    EXPECT_FALSE(target);
    EXPECT_EQ(target.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(target.error().message, "host web01 is retired");
    EXPECT_TRUE((*find_account_ref(tx, "web01", "root"))->host_retired);
    EXPECT_TRUE(resolve_session_target(tx, "alice", "root", "web02"));
    return ok();
  }));
}

}  // namespace
}  // namespace sekisho::storage
