#include "storage/data_dir.hpp"

#include <gtest/gtest.h>

#include "base/crypto.hpp"
#include "base/files.hpp"
#include "tests/support/temp_dir.hpp"

namespace sekisho::storage {
namespace {

using sekisho::testing::TempDir;

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = random_secret(32);
    ASSERT_TRUE(write_master_key(dir_.master_key(), key_));
    auto s = Store::create(dir_.store(), key_);
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE((*s)->transact(
        [&](Store::Tx& tx) { return (*s)->put_setting(tx, "canary", as_bytes("still here")); }));
  }
  void expect_canary(Store& store) {
    auto v = store.get_setting("canary");
    ASSERT_TRUE(v && v->has_value());
    EXPECT_EQ((*v)->view(), "still here");
  }

  TempDir tmp_;
  DataDir dir_{tmp_.path()};
  Secret key_;
};

TEST_F(DataDirTest, MasterKeyRoundTrip) {
  auto k = load_master_key(dir_.master_key());
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_TRUE(k->equals(key_));
}

TEST_F(DataDirTest, MasterKeyReadableByOthersIsRefused) {
  std::filesystem::permissions(dir_.master_key(), std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  auto k = load_master_key(dir_.master_key());
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(k.error().message.find("chmod 600"), std::string::npos) << k.error().message;
}

TEST_F(DataDirTest, MalformedMasterKeyIsRefused) {
  for (const char* text : {"", "abc\n", "zz", "0123"}) {
    ASSERT_TRUE(write_file_atomic(dir_.master_key(), as_bytes(text), 0600));
    auto k = load_master_key(dir_.master_key());
    ASSERT_FALSE(k) << text;
    EXPECT_NE(k.error().message.find("malformed"), std::string::npos) << k.error().message;
  }
}

TEST_F(DataDirTest, LockIsExclusive) {
  auto first = DataDirLock::acquire(dir_);
  ASSERT_TRUE(first);
  auto second = DataDirLock::acquire(dir_);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("in use"), std::string::npos);
}

TEST_F(DataDirTest, RekeyInstallsTheNewKey) {
  ASSERT_TRUE(rekey_data_dir(dir_));
  auto k = load_master_key(dir_.master_key());
  ASSERT_TRUE(k);
  EXPECT_FALSE(k->equals(key_));
  EXPECT_FALSE(std::filesystem::exists(dir_.master_key_next()));
  auto store = open_data_dir_store(dir_, {});
  ASSERT_TRUE(store) << store.error().message;
  expect_canary(**store);
}

TEST_F(DataDirTest, InterruptedBeforeReencryptionKeepsTheOldKey) {
  // Crash after master.key.next was written, before PRAGMA rekey ran.
  ASSERT_TRUE(write_master_key(dir_.master_key_next(), random_secret(32)));
  auto store = open_data_dir_store(dir_, {});
  ASSERT_TRUE(store) << store.error().message;
  expect_canary(**store);
  EXPECT_FALSE(std::filesystem::exists(dir_.master_key_next()));
  EXPECT_TRUE(load_master_key(dir_.master_key())->equals(key_));
}

TEST_F(DataDirTest, InterruptedAfterReencryptionFinishesTheRotation) {
  // Crash after PRAGMA rekey, before master.key.next was renamed over master.key.
  const Secret next = random_secret(32);
  ASSERT_TRUE(write_master_key(dir_.master_key_next(), next));
  {
    auto s = Store::open(dir_.store(), key_, {});
    ASSERT_TRUE(s);
    ASSERT_TRUE((*s)->rekey(next));
  }
  auto store = open_data_dir_store(dir_, {});
  ASSERT_TRUE(store) << store.error().message;
  expect_canary(**store);
  EXPECT_FALSE(std::filesystem::exists(dir_.master_key_next()));
  EXPECT_TRUE(load_master_key(dir_.master_key())->equals(next));
}

}  // namespace
}  // namespace sekisho::storage
