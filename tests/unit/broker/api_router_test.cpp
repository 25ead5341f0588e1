// The API router's request bodies: every string is wiped when a request ends, so that a password
// a refusal returned early with (before secret_field() took it) does not stay in freed memory.
#include "broker/api_router.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sekisho::broker {
namespace {

TEST(ApiRouterBody, WipeStringsOverwritesEveryStringInPlace) {
  nlohmann::json body = {{"user", "alice"},
                         {"password", "Alice-Secret-1"},
                         {"nested", {{"private_key", "-----BEGIN KEY-----"}}},
                         {"list", {"one-Secret", 7}}};
  const char* password = body["password"].get_ref<const std::string&>().data();
  const std::size_t size = body["password"].get_ref<const std::string&>().size();
  wipe_strings(body);
  // The same buffer, now zeros: no copy was made and left behind.
  EXPECT_EQ(body["password"].get_ref<const std::string&>().data(), password);
  EXPECT_EQ(std::string(password, size), std::string(size, '\0'));
  EXPECT_EQ(body.dump().find("Secret"), std::string::npos);
  EXPECT_EQ(body.dump().find("BEGIN"), std::string::npos);
  EXPECT_EQ(body["list"][1], 7);
}

}  // namespace
}  // namespace sekisho::broker
