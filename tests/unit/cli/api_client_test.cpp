#include "cli/api_client.hpp"

#include <gtest/gtest.h>

#include "cli/commands.hpp"

namespace sekisho::cli {
namespace {

TEST(JsonWithSecrets, EscapesSecretsAndKeepsPublicFields) {
  const Secret password = Secret::copy_of(std::string_view("a\"b\\c\nd\x01\xc3\xa4", 10));
  const Secret fresh = Secret::copy_of("new");
  const Secret body = json_with_secrets({{"user", "admin"}, {"totp", "123456"}},
                                        {{"password", &password}, {"new_password", &fresh}});
  const auto j = nlohmann::json::parse(body.view());
  EXPECT_EQ(j["user"], "admin");
  EXPECT_EQ(j["totp"], "123456");
  EXPECT_EQ(j["password"], std::string("a\"b\\c\nd\x01\xc3\xa4", 10));
  EXPECT_EQ(j["new_password"], "new");
}

TEST(JsonWithSecrets, EmptyPublicPart) {
  const Secret key = Secret::copy_of("-----BEGIN OPENSSH PRIVATE KEY-----\nAAA\n");
  const auto j = nlohmann::json::parse(json_with_secrets({}, {{"private_key", &key}}).view());
  EXPECT_EQ(j.size(), 1u);
  EXPECT_EQ(j["private_key"], "-----BEGIN OPENSSH PRIVATE KEY-----\nAAA\n");
}

TEST(ExpectSuccess, UsesTheServersMessageOnOneLine) {
  auto r = expect_success(ApiResponse{
      401, {{"error", "unauthenticated"}, {"message", "wrong user name\nor password"}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(r.error().message, "wrong user name?or password");
  auto bare = expect_success(ApiResponse{502, nullptr});
  ASSERT_FALSE(bare);
  EXPECT_EQ(bare.error().message, "the gateway answered HTTP 502");
  auto good = expect_success(ApiResponse{201, {{"name", "x"}}});
  ASSERT_TRUE(good);
  EXPECT_EQ((*good)["name"], "x");
  EXPECT_EQ((ApiResponse{403, {{"error", "password_change_required"}}}.error_code()),
            "password_change_required");
}

TEST(PublicKeyLine, TakesTheFirstKeyLine) {
  auto line = public_key_line("# my key\n\nssh-ed25519 AAAAC3Nza me@host\r\n", "k.pub");
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "ssh-ed25519 AAAAC3Nza me@host");
  EXPECT_TRUE(public_key_line("ecdsa-sha2-nistp256 AAAA", "k.pub"));
}

TEST(PublicKeyLine, RefusesPrivateKeysAndJunk) {
  auto priv = public_key_line("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n", "id_ed25519");
  ASSERT_FALSE(priv);
  EXPECT_NE(priv.error().message.find("private key"), std::string::npos);
  EXPECT_EQ(priv.error().message.find("b3Bl"), std::string::npos);
  EXPECT_FALSE(public_key_line("hello world\n", "x"));
  EXPECT_FALSE(public_key_line("\n# only comments\n", "x"));
}

}  // namespace
}  // namespace sekisho::cli
