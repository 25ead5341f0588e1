#include "storage/sessions.hpp"

#include <gtest/gtest.h>

#include "base/crypto.hpp"
#include "storage/hosts.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::storage {
namespace {

using sekisho::testing::make_test_store;
using sekisho::testing::TestStore;

// A store with users alice (requester) and bob, host web01 (ssh) with root and deploy, and
// win01 (rdp) with Administrator.
std::unique_ptr<TestStore> populated_store() {
  auto t = make_test_store();
  auto r = t->store->transact([&](Store::Tx& tx) -> Result<void> {
    for (const char* name : {"alice", "bob"}) {
      auto id = create_user(tx, {name, "x", {"requester"}, false, "2026-01-01T00:00:00.000Z"});
      if (!id) return tl::make_unexpected(id.error());
    }
    for (const auto& [host, protocol] : {std::pair{"web01", "ssh"}, {"win01", "rdp"}}) {
      HostRecord h;
      h.name = host;
      h.address = "127.0.0.1";
      h.port = 22;
      h.protocol = protocol;
      h.created_at = "2026-01-01T00:00:00.000Z";
      auto id = insert_host(tx, h);
      if (!id) return tl::make_unexpected(id.error());
      const std::vector<std::string> accounts = std::string(host) == "web01"
                                                    ? std::vector<std::string>{"root", "deploy"}
                                                    : std::vector<std::string>{"Administrator"};
      for (const auto& a : accounts) {
        auto acc = add_account(tx, *id, a, "password", random_secret(16), std::nullopt,
                               "2026-01-01T00:00:00.000Z");
        if (!acc) return tl::make_unexpected(acc.error());
      }
    }
    return ok();
  });
  EXPECT_TRUE(r) << r.error().message;
  return t;
}

Result<SessionTarget> resolve(TestStore& t, const std::string& user, const std::string& account,
                              const std::string& host) {
  Result<SessionTarget> out = fail(ErrorCode::kInternal, "not run");
  auto r = t.store->read([&](Store::Tx& tx) -> Result<void> {
    out = resolve_session_target(tx, user, account, host);
    return ok();
  });
  EXPECT_TRUE(r);
  return out;
}

// Inserts an open session for user@account@host started at `started`.
void open_session(TestStore& t, const std::string& id, const std::string& user,
                  const std::string& account, const std::string& host, const std::string& started) {
  auto target = resolve(t, user, account, host);
  ASSERT_TRUE(target) << target.error().message;
  auto r = t.store->transact([&](Store::Tx& tx) {
    return insert_session(tx, {id, std::nullopt, *target, started, "recordings/" + id + ".skr"});
  });
  ASSERT_TRUE(r) << r.error().message;
}

Result<void> finish(TestStore& t, const std::string& id, const std::string& hash) {
  return t.store->transact([&](Store::Tx& tx) {
    return finish_session(tx, id, {"2026-03-01T10:05:00.000Z", "exit 0", hash, 4096, 300'000'000});
  });
}

std::vector<std::string> ids(TestStore& t, const SessionFilter& filter) {
  std::vector<std::string> out;
  auto r = t.store->read([&](Store::Tx& tx) -> Result<void> {
    auto list = list_sessions(tx, filter);
    if (!list) return tl::make_unexpected(list.error());
    for (const auto& s : *list) out.push_back(s.id);
    return ok();
  });
  EXPECT_TRUE(r) << r.error().message;
  return out;
}

std::optional<SessionRecord> find(TestStore& t, const std::string& id) {
  std::optional<SessionRecord> out;
  auto r = t.store->read([&](Store::Tx& tx) -> Result<void> {
    auto s = find_session(tx, id);
    if (!s) return tl::make_unexpected(s.error());
    out = *s;
    return ok();
  });
  EXPECT_TRUE(r) << r.error().message;
  return out;
}

TEST(Sessions, TargetsResolveByNameAndRefuseWhatIsMissing) {
  auto t = populated_store();
  auto ok_target = resolve(*t, "alice", "root", "web01");
  ASSERT_TRUE(ok_target) << ok_target.error().message;
  EXPECT_EQ(ok_target->protocol, "ssh");
  EXPECT_EQ(resolve(*t, "alice", "Administrator", "win01")->protocol, "rdp");

  const std::pair<std::array<const char*, 3>, const char*> cases[] = {
      {{"mallory", "root", "web01"}, "no user mallory"},
      {{"alice", "root", "web99"}, "no host web99"},
      {{"alice", "oracle", "web01"}, "no account oracle@web01"},
      {{"alice", "Administrator", "web01"}, "no account Administrator@web01"},
  };
  for (const auto& [args, message] : cases) {
    auto r = resolve(*t, args[0], args[1], args[2]);
    ASSERT_FALSE(r) << message;
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(r.error().message, message);
  }
  t->tamper("UPDATE users SET disabled = 1 WHERE name = 'bob';");
  auto disabled = resolve(*t, "bob", "root", "web01");
  ASSERT_FALSE(disabled);
  EXPECT_EQ(disabled.error().code, ErrorCode::kPermissionDenied);
}

TEST(Sessions, OpenThenFinishedSessionShowsItsRecording) {
  auto t = populated_store();
  open_session(*t, "0123456789abcdef", "alice", "root", "web01", "2026-03-01T10:00:00.000Z");
  auto open = find(*t, "0123456789abcdef");
  ASSERT_TRUE(open);
  EXPECT_EQ(open->state(), "open");
  EXPECT_EQ(open->user, "alice");
  EXPECT_EQ(open->account, "root");
  EXPECT_EQ(open->host, "web01");
  EXPECT_EQ(open->protocol, "ssh");
  EXPECT_EQ(open->recording_path, "recordings/0123456789abcdef.skr");
  EXPECT_EQ(open->ended_at, "");

  ASSERT_TRUE(finish(*t, "0123456789abcdef", "ab12"));
  auto closed = find(*t, "0123456789abcdef");
  EXPECT_EQ(closed->state(), "closed");
  EXPECT_EQ(closed->recording_hash, "ab12");
  EXPECT_EQ(closed->recording_size, 4096u);
  EXPECT_EQ(closed->duration_us, 300'000'000);
  EXPECT_EQ(closed->end_reason, "exit 0");

  auto again = finish(*t, "0123456789abcdef", "cd34");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(find(*t, "0123456789abcdef")->recording_hash, "ab12") << "an end is written once";
  EXPECT_EQ(finish(*t, "ffff", "x").error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(find(*t, "ffff"));
}

TEST(Sessions, AnEndWithoutHashIsIncomplete) {
  auto t = populated_store();
  open_session(*t, "s1", "alice", "root", "web01", "2026-03-01T10:00:00.000Z");
  ASSERT_TRUE(finish(*t, "s1", ""));
  EXPECT_EQ(find(*t, "s1")->state(), "incomplete");
}

// A session the core sealed (its worker never closed the recording) keeps the seal's hash and
// lists as incomplete; it is no longer open.
TEST(Sessions, ASealedEndKeepsItsHashAndIsIncomplete) {
  auto t = populated_store();
  open_session(*t, "s1", "alice", "root", "web01", "2026-03-01T10:00:00.000Z");
  open_session(*t, "s2", "alice", "root", "web01", "2026-03-01T10:01:00.000Z");
  auto open = [&] {
    std::vector<std::string> out;
    EXPECT_TRUE(t->store->read([&](Store::Tx& tx) -> Result<void> {
      auto rows = open_sessions(tx);
      if (!rows) return tl::make_unexpected(rows.error());
      for (const auto& r : *rows) out.push_back(r.id);
      return ok();
    }));
    return out;
  };
  EXPECT_EQ(open(), (std::vector<std::string>{"s1", "s2"}));
  ASSERT_TRUE(t->store->transact([&](Store::Tx& tx) {
    return finish_session(
        tx, "s1", {"2026-03-01T10:05:00.000Z", "gateway stopped", "ab12", 4096, 300'000'000, true});
  }));
  const auto sealed = find(*t, "s1");
  EXPECT_EQ(sealed->state(), "incomplete");
  EXPECT_EQ(sealed->recording_hash, "ab12");
  EXPECT_TRUE(sealed->recording_sealed);
  EXPECT_EQ(open(), (std::vector<std::string>{"s2"}));
}

TEST(Sessions, InsertRefusesTakenIdsBadIdsAndUnknownRequests) {
  auto t = populated_store();
  open_session(*t, "s1", "alice", "root", "web01", "2026-03-01T10:00:00.000Z");
  auto target = resolve(*t, "alice", "root", "web01");
  auto insert = [&](const std::string& id, std::optional<std::string> request) {
    return t->store->transact([&](Store::Tx& tx) {
      return insert_session(tx, {id, request, *target, "2026-03-01T10:00:00.000Z", "r"});
    });
  };
  EXPECT_EQ(insert("s1", std::nullopt).error().code, ErrorCode::kAlreadyExists);
  for (const char* bad : {"", "../etc", "a/b", "a b", "a.skr"}) {
    EXPECT_EQ(insert(bad, std::nullopt).error().code, ErrorCode::kInvalidArgument) << bad;
  }
  auto unknown = insert("s2", "req-404");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "no request req-404");
  EXPECT_EQ(insert(std::string(65, 'a'), std::nullopt).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(new_session_id().size(), 16u);
  EXPECT_NE(new_session_id(), new_session_id());
  EXPECT_TRUE(check_session_id(new_session_id()));
}

TEST(Sessions, ListFiltersByUserHostAndSinceNewestFirst) {
  auto t = populated_store();
  open_session(*t, "a1", "alice", "root", "web01", "2026-03-01T10:00:00.000Z");
  open_session(*t, "a2", "alice", "Administrator", "win01", "2026-03-02T10:00:00.000Z");
  open_session(*t, "b1", "bob", "deploy", "web01", "2026-03-03T10:00:00.000Z");
  open_session(*t, "b2", "bob", "root", "web01", "2026-03-04T10:00:00.000Z");

  using V = std::vector<std::string>;
  const std::nullopt_t any = std::nullopt;
  auto f = [](std::optional<std::string> user, std::optional<std::string> host,
              std::optional<std::string> since, std::size_t limit = 1000) {
    SessionFilter out;
    out.user = std::move(user);
    out.host = std::move(host);
    out.since = std::move(since);
    out.limit = limit;
    return out;
  };
  EXPECT_EQ(ids(*t, f(any, any, any)), (V{"b2", "b1", "a2", "a1"}));
  EXPECT_EQ(ids(*t, f("alice", any, any)), (V{"a2", "a1"}));
  EXPECT_EQ(ids(*t, f(any, "web01", any)), (V{"b2", "b1", "a1"}));
  EXPECT_EQ(ids(*t, f("alice", "web01", any)), (V{"a1"}));
  EXPECT_EQ(ids(*t, f(any, any, "2026-03-02T10:00:00.000Z")), (V{"b2", "b1", "a2"}));
  EXPECT_EQ(ids(*t, f(any, any, "2026-03-05T00:00:00.000Z")), V{});
  EXPECT_EQ(ids(*t, f("nobody", any, any)), V{});
  EXPECT_EQ(ids(*t, f(any, any, any, 2)), (V{"b2", "b1"}));
}

TEST(Sessions, RecordingKeyIsMadeOnceAndKeptAcrossReopenAndRekey) {
  auto t = populated_store();
  auto first = recording_key(*t->store);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->size(), 32u);
  auto second = recording_key(*t->store);
  ASSERT_TRUE(second);
  EXPECT_EQ(first->view(), second->view());

  const Secret new_master = random_secret(32);
  ASSERT_TRUE(t->store->rekey(new_master));
  t->key = Secret::copy_of(new_master.bytes());
  t->reopen();
  auto after = recording_key(*t->store);
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_EQ(first->view(), after->view()) << "a master key rotation must not orphan recordings";

  auto other = make_test_store();
  auto other_key = recording_key(*other->store);
  ASSERT_TRUE(other_key);
  EXPECT_NE(first->view(), other_key->view());
}

// A host whose accounts were used keeps its history: removing it is refused with a reason, not a
// raw foreign-key failure; a host nobody used can go.
TEST(Sessions, HostWithSessionsIsNotRemoved) {
  auto t = populated_store();
  open_session(*t, "s1", "alice", "root", "web01", "2026-03-01T10:00:00.000Z");
  auto refused = t->store->transact([&](Store::Tx& tx) { return remove_host(tx, "web01"); });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(refused.error().message.find("1 session(s) on record"), std::string::npos)
      << refused.error().message;
  auto removed = t->store->transact([&](Store::Tx& tx) { return remove_host(tx, "win01"); });
  EXPECT_TRUE(removed) << removed.error().message;
  EXPECT_TRUE(resolve(*t, "alice", "root", "web01"));
}

}  // namespace
}  // namespace sekisho::storage
