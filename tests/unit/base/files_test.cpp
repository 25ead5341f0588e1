#include "base/files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "base/crypto.hpp"

namespace sekisho {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sekisho-files-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FilesTest, AtomicWriteSetsModeAndReplaces) {
  const fs::path p = dir_ / "f";
  ASSERT_TRUE(write_file_atomic(p, as_bytes("one"), 0600));
  ASSERT_TRUE(write_file_atomic(p, as_bytes("two"), 0600));
  EXPECT_EQ(*read_file(p, 100), "two");
  struct stat st {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temp file left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(FilesTest, PrivateReadRefusesGroupOrOtherAccess) {
  const fs::path p = dir_ / "key";
  ASSERT_TRUE(write_file_atomic(p, as_bytes("k"), 0640));
  auto r = read_private_file(p, 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(r.error().message.find("0640"), std::string::npos) << r.error().message;
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(read_private_file(p, 100));
}

TEST_F(FilesTest, ReadRefusesLargeMissingAndNonRegularFiles) {
  const fs::path p = dir_ / "big";
  ASSERT_TRUE(write_file_atomic(p, as_bytes(std::string(200, 'x')), 0600));
  EXPECT_EQ(read_file(p, 100).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(read_file(dir_ / "missing", 100).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(read_file(dir_, 100));
}

TEST_F(FilesTest, AppendLineDurableAppends) {
  const fs::path p = dir_ / "log";
  ASSERT_TRUE(append_line_durable(p, "a", 0644));
  ASSERT_TRUE(append_line_durable(p, "b", 0644));
  EXPECT_EQ(*read_file(p, 100), "a\nb\n");
}

}  // namespace
}  // namespace sekisho
