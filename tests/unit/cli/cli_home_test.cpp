#include "cli/cli_home.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

namespace sekisho::cli {
namespace {

namespace fs = std::filesystem;

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class CliHomeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sekisho-cli-home-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path root_;
};

TEST_F(CliHomeTest, LocateUsesSekishoHome) {
  ::setenv("SEKISHO_HOME", (root_ / "h").c_str(), 1);
  auto home = CliHome::locate();
  ::unsetenv("SEKISHO_HOME");
  ASSERT_TRUE(home);
  EXPECT_EQ(home->dir(), root_ / "h");
  const char* old_home = std::getenv("HOME");
  const std::string saved = old_home ? old_home : "";
  ::setenv("HOME", root_.c_str(), 1);
  auto dflt = CliHome::locate();
  ::setenv("HOME", saved.c_str(), 1);
  ASSERT_TRUE(dflt);
  EXPECT_EQ(dflt->dir(), root_ / ".config" / "sekisho");
}

TEST_F(CliHomeTest, EnsureCreatesA0700DirectoryDespiteTheUmask) {
  const mode_t old = ::umask(0);
  const CliHome home(root_ / "parent" / "sekisho");
  auto r = home.ensure();
  ::umask(old);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(mode_of(home.dir()), 0700u);
  EXPECT_TRUE(home.ensure());  // idempotent
}

TEST_F(CliHomeTest, EnsureRefusesADirectoryOthersCanRead) {
  const CliHome home(root_ / "open");
  fs::create_directory(home.dir());
  ::chmod(home.dir().c_str(), 0755);
  auto r = home.ensure();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("chmod 700"), std::string::npos);
  std::ofstream(root_ / "file") << "x";
  EXPECT_FALSE(CliHome(root_ / "file").ensure());
}

TEST_F(CliHomeTest, SessionRoundTripWith0600FilesAndNoTempLeftovers) {
  const CliHome home(root_ / "h");
  auto none = home.load_session();
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  const Secret token = Secret::copy_of("tok_abcdefghijklmnopqrstuvwxyz0123456789ABC");
  ASSERT_TRUE(
      home.save_session({"https://127.0.0.1:8443", "admin", "2026-11-27T00:00:00.000Z"}, token));
  EXPECT_EQ(mode_of(home.dir()), 0700u);
  EXPECT_EQ(mode_of(home.session_file()), 0600u);
  EXPECT_EQ(mode_of(home.token_file()), 0600u);
  // Written by rename from temp files in the same directory: none may be left behind.
  EXPECT_EQ(entries(home.dir()), (std::vector<std::string>{"session.json", "token"}));

  auto loaded = home.load_session();
  ASSERT_TRUE(loaded);
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->server, "https://127.0.0.1:8443");
  EXPECT_EQ((*loaded)->user, "admin");
  EXPECT_EQ((*loaded)->expires_at, "2026-11-27T00:00:00.000Z");
  auto t = home.load_token();
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->equals(token));
  // The token file holds the raw token and nothing else; the session file never holds it.
  std::ifstream session(home.session_file());
  const std::string text((std::istreambuf_iterator<char>(session)), {});
  EXPECT_EQ(text.find("tok_"), std::string::npos);

  // A new login replaces both files atomically.
  ASSERT_TRUE(home.save_session({"https://gw:9443", "bob", ""}, Secret::copy_of("second")));
  EXPECT_EQ((*home.load_session())->user, "bob");
  EXPECT_EQ(home.load_token()->view(), "second");
  EXPECT_EQ(entries(home.dir()), (std::vector<std::string>{"session.json", "token"}));

  ASSERT_TRUE(home.clear_session());
  EXPECT_FALSE(home.load_session()->has_value());
  EXPECT_TRUE(home.clear_session());  // nothing to clear is fine
}

TEST_F(CliHomeTest, TokenReadableByOthersIsRefused) {
  const CliHome home(root_ / "h");
  ASSERT_TRUE(home.save_session({"https://127.0.0.1:8443", "admin", ""}, Secret::copy_of("t")));
  ::chmod(home.token_file().c_str(), 0644);
  EXPECT_FALSE(home.load_token());
}

TEST_F(CliHomeTest, SessionWithoutTokenIsNoSession) {
  const CliHome home(root_ / "h");
  ASSERT_TRUE(home.save_session({"https://127.0.0.1:8443", "admin", ""}, Secret::copy_of("t")));
  fs::remove(home.token_file());
  EXPECT_FALSE(home.load_session()->has_value());
}

TEST_F(CliHomeTest, PinsAreKeptPerServer) {
  const CliHome home(root_ / "h");
  EXPECT_FALSE(home.pinned_certificate("https://a:1")->has_value());
  ASSERT_TRUE(home.pin_certificate("https://a:1", "SHA256:aa", "t1"));
  ASSERT_TRUE(home.pin_certificate("https://b:2", "SHA256:bb", "t2"));
  EXPECT_EQ(**home.pinned_certificate("https://a:1"), "SHA256:aa");
  EXPECT_EQ(**home.pinned_certificate("https://b:2"), "SHA256:bb");
  EXPECT_FALSE(home.pinned_certificate("https://c:3")->has_value());
  EXPECT_EQ(mode_of(home.pins_file()), 0600u);
  EXPECT_EQ(entries(home.dir()), (std::vector<std::string>{"known_gateways.json"}));
}

TEST_F(CliHomeTest, SigningKeysArePinnedBesideCertificatesAndSurviveARepin) {
  const CliHome home(root_ / "h");
  EXPECT_TRUE(home.pinned_signing_keys()->empty());
  ASSERT_TRUE(home.pin_certificate("https://a:1", "SHA256:aa", "t1"));
  EXPECT_FALSE(home.pinned_signing_key("https://a:1")->has_value());
  ASSERT_TRUE(home.pin_signing_key("https://a:1", "PEM-A"));
  ASSERT_TRUE(home.pin_signing_key("https://b:2", "PEM-B"));
  // Pinning the certificate again keeps the signing key of the same server.
  ASSERT_TRUE(home.pin_certificate("https://a:1", "SHA256:a2", "t3"));
  EXPECT_EQ(**home.pinned_signing_key("https://a:1"), "PEM-A");
  EXPECT_EQ(**home.pinned_certificate("https://a:1"), "SHA256:a2");
  auto keys = home.pinned_signing_keys();
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].server, "https://a:1");
  EXPECT_EQ((*keys)[0].public_pem, "PEM-A");
  EXPECT_EQ((*keys)[1].server, "https://b:2");
  EXPECT_EQ(mode_of(home.pins_file()), 0600u);
}

TEST_F(CliHomeTest, DamagedFilesAreReportedNotIgnored) {
  const CliHome home(root_ / "h");
  ASSERT_TRUE(home.ensure());
  std::ofstream(home.pins_file()) << "not json";
  auto p = home.pinned_certificate("https://a:1");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("known_gateways.json"), std::string::npos);
}

}  // namespace
}  // namespace sekisho::cli
