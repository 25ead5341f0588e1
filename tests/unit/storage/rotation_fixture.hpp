// A store for the rotation storage tests: users alice and bob; hosts web01 and web02 (group
// "web") with a vaulted root password each; requests are added per test.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "storage/hosts.hpp"
#include "storage/requests.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::storage {

inline constexpr char kT0[] = "2026-01-01T00:00:00.000Z";

struct RotationStoreTest : ::testing::Test {
  std::unique_ptr<testing::TestStore> t = testing::make_test_store();
  std::int64_t alice = 0, bob = 0;
  std::int64_t web01 = 0, web02 = 0;    // host ids
  std::int64_t root01 = 0, root02 = 0;  // account ids

  void SetUp() override {
    ASSERT_TRUE(run([&](Store::Tx& tx) -> Result<void> {
      auto a = create_user(tx, {"alice", "x", {"requester"}, false, kT0});
      auto b = create_user(tx, {"bob", "x", {"requester"}, false, kT0});
      if (!a || !b) return fail(ErrorCode::kInternal, "users");
      alice = *a;
      bob = *b;
      for (const char* name : {"web01", "web02"}) {
        auto h = testing::test_host(name);
        h.group = "web";
        auto host = insert_host(tx, h);
        if (!host) return tl::make_unexpected(host.error());
        auto acct = add_account(tx, *host, "root", "password",
                                Secret::copy_of("pw-" + std::string(name)), std::nullopt, kT0);
        if (!acct) return tl::make_unexpected(acct.error());
        (std::string(name) == "web01" ? web01 : web02) = *host;
        (std::string(name) == "web01" ? root01 : root02) = *acct;
      }
      return ok();
    }));
  }

  // Runs `fn` in one write transaction; its error as the result.
  Result<void> run(const std::function<Result<void>(Store::Tx&)>& fn) {
    return t->store->transact(fn);
  }

  // A checkout-mode request of `user` for `account`, approved.
  void add_request(const std::string& id, std::int64_t user, std::int64_t account) {
    RequestRow r;
    r.id = id;
    r.requester_id = user;
    r.account_id = account;
    r.reason = "test";
    r.mode = "checkout";
    r.state = "approved";
    r.start_at = r.created_at = r.updated_at = kT0;
    r.end_at = "2026-01-01T01:00:00.000Z";
    ASSERT_TRUE(run([&](Store::Tx& tx) { return insert_request(tx, r); }));
  }
};

// The message of a failed result, "" on success (for EXPECT_EQ on exact refusals).
template <typename T>
std::string error_of(const Result<T>& r) {
  return r ? std::string() : r.error().message;
}

}  // namespace sekisho::storage
