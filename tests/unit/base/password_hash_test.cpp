#include "base/password_hash.hpp"

#include <gtest/gtest.h>

#include <set>

namespace sekisho {
namespace {

TEST(PasswordHash, YescryptVerifiesOnlyTheRightPassword) {
  auto hash = hash_password(Secret::copy_of(std::string_view("correct horse")));
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_EQ(hash->rfind("$y$", 0), 0u) << "expected a yescrypt hash";
  EXPECT_EQ(hash->find("correct horse"), std::string::npos);
  EXPECT_TRUE(password_matches(Secret::copy_of(std::string_view("correct horse")), *hash));
  EXPECT_FALSE(password_matches(Secret::copy_of(std::string_view("correct hors")), *hash));
  EXPECT_FALSE(password_matches(Secret(), *hash));
  EXPECT_FALSE(password_matches(Secret::copy_of(std::string_view("x")), "*"));
}

TEST(PasswordHash, SaltsDiffer) {
  const Secret pw = Secret::copy_of(std::string_view("same"));
  EXPECT_NE(*hash_password(pw), *hash_password(pw));
}

TEST(PasswordHash, RefusesEmptyPassword) { EXPECT_FALSE(hash_password(Secret())); }

TEST(PasswordHash, GeneratedPasswordsUseTheAlphabetAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const Secret pw = generate_password(20);
    ASSERT_EQ(pw.size(), 20u);
    for (char c : pw.view()) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
      EXPECT_EQ(std::string("0O1lI").find(c), std::string::npos);
    }
    seen.insert(std::string(pw.view()));
  }
  EXPECT_EQ(seen.size(), 50u);
}

}  // namespace
}  // namespace sekisho
