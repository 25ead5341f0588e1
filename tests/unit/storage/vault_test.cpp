// storage/vault: the current credential of ACCOUNT@HOST, and nothing for unknown targets.
#include "storage/vault.hpp"

#include <gtest/gtest.h>

#include "storage/hosts.hpp"
#include "tests/support/test_store.hpp"

namespace sekisho::storage {
namespace {

TEST(Vault, ReadsTheCurrentCredentialOfAnAccount) {
  auto t = testing::make_test_store();
  auto added = t->store->transact([&](Store::Tx& tx) -> Result<void> {
    HostRecord h;
    h.name = "web01";
    h.address = "127.0.0.1";
    h.port = 22;
    h.protocol = "ssh";
    auto id = insert_host(tx, h);
    if (!id) return tl::make_unexpected(id.error());
    auto a = add_account(tx, *id, "root", "password", Secret::copy_of(std::string_view("pw-1")),
                         std::nullopt, "2026-01-01T00:00:00Z");
    if (!a) return tl::make_unexpected(a.error());
    return ok();
  });
  ASSERT_TRUE(added) << added.error().message;
  auto read = t->store->read([&](Store::Tx& tx) -> Result<void> {
    auto c = current_credential(tx, "root", "web01");
    EXPECT_TRUE(c);
    if (c) {
      EXPECT_EQ(c->kind, "password");
      EXPECT_EQ(c->secret.view(), "pw-1");
    }
    auto missing = current_credential(tx, "admin", "web01");
    EXPECT_FALSE(missing);
    if (!missing) {
      EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
      EXPECT_EQ(missing.error().message, "no current credential for admin@web01");
    }
    EXPECT_FALSE(current_credential(tx, "root", "web02"));
    return ok();
  });
  ASSERT_TRUE(read);
}

}  // namespace
}  // namespace sekisho::storage
