#include "ldap/totp.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace sekisho::ldap {
namespace {

// RFC 6238 appendix B, SHA-1 key.
Secret rfc_key() { return Secret::copy_of(std::string_view("12345678901234567890")); }

TimePoint at(std::int64_t seconds) { return TimePoint(std::chrono::seconds(seconds)); }

struct Vector {
  std::int64_t time;
  const char* code;  // the RFC's 8-digit value truncated to the last 6 digits
};

TEST(TotpTest, Rfc6238Sha1VectorsTruncatedToSixDigits) {
  const Secret key = rfc_key();
  const Vector vectors[] = {{59, "287082"},
                            {1111111109, "081804"},
                            {1111111111, "050471"},
                            {1234567890, "005924"},
                            {2000000000, "279037"}};
  // The RFC's last vector (T = 20000000000, year 2603) lies beyond system_clock's nanosecond
  // range (year 2262), so a TimePoint cannot hold it.
  for (const auto& v : vectors) {
    EXPECT_TRUE(totp_verify(key, v.code, at(v.time), 0)) << "time " << v.time;
  }
}

TEST(TotpTest, WindowAcceptsNeighbouringStepsOnly) {
  const Secret key = rfc_key();
  EXPECT_FALSE(totp_verify(key, "287082", at(59 + 30), 0));
  EXPECT_TRUE(totp_verify(key, "287082", at(59 + 30), 1));
  EXPECT_TRUE(totp_verify(key, "287082", at(59 + 30), 2));
  EXPECT_FALSE(totp_verify(key, "287082", at(59 + 60), 1));
  EXPECT_TRUE(totp_verify(key, "050471", at(1111111111 - 30), 1));
  EXPECT_FALSE(totp_verify(key, "050471", at(1111111111 - 60), 1));
  EXPECT_FALSE(totp_verify(key, "287082", at(59), -1));
}

TEST(TotpTest, RefusesMalformedCodesAndEmptyKey) {
  const Secret key = rfc_key();
  for (const char* bad :
       {"", "28708", "2870820", "28708a", " 287082", "287082 ", "+87082", "２８７０８２"}) {
    EXPECT_FALSE(totp_verify(key, bad, at(59), 1)) << bad;
  }
  EXPECT_FALSE(totp_verify(key,
                           std::string_view("287\0"
                                            "82",
                                            6),
                           at(59), 1));
  EXPECT_FALSE(totp_verify(Secret(), "287082", at(59), 1));
  EXPECT_FALSE(totp_verify(key, "000000", at(59), 1));
}

TEST(TotpTest, Base32OfRfcKey) {
  EXPECT_EQ(totp_base32(rfc_key()), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  EXPECT_EQ(totp_base32(Secret::copy_of(std::string_view("f"))), "MY");
  EXPECT_EQ(totp_base32(Secret::copy_of(std::string_view("foobar"))), "MZXW6YTBOI");
}

TEST(TotpTest, GeneratedSecretsAreTwentyRandomBytes) {
  const Secret a = generate_totp_secret();
  const Secret b = generate_totp_secret();
  EXPECT_EQ(a.size(), 20u);
  EXPECT_EQ(b.size(), 20u);
  EXPECT_FALSE(a.equals(b));
  EXPECT_EQ(totp_base32(a).size(), 32u);
}

TEST(TotpTest, UriCarriesEncodedIssuerAndAccount) {
  EXPECT_EQ(totp_uri(rfc_key(), "alice@example.com", "Sekisho Gateway"),
            "otpauth://totp/Sekisho%20Gateway:alice%40example.com"
            "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Sekisho%20Gateway"
            "&algorithm=SHA1&digits=6&period=30");
  EXPECT_EQ(totp_uri(rfc_key(), "a&b=c", "x?y").find("otpauth://totp/x%3Fy:a%26b%3Dc?"), 0u);
}

}  // namespace
}  // namespace sekisho::ldap
