#include "base/crypto.hpp"

#include <gtest/gtest.h>

namespace sekisho {
namespace {

TEST(Crypto, HexRoundTrip) {
  const std::uint8_t raw[] = {0x00, 0x7f, 0x80, 0xff, 0x1a};
  EXPECT_EQ(hex_encode(raw), "007f80ff1a");
  auto back = hex_decode_secret("007F80ff1a");
  ASSERT_TRUE(back);
  EXPECT_EQ(std::vector<std::uint8_t>(back->bytes().begin(), back->bytes().end()),
            std::vector<std::uint8_t>(std::begin(raw), std::end(raw)));
  EXPECT_FALSE(hex_decode_secret("abc"));
  EXPECT_FALSE(hex_decode_secret("zz"));
}

TEST(Crypto, Base64UrlMatchesRfc4648Vectors) {
  EXPECT_EQ(base64url_encode(as_bytes("")), "");
  EXPECT_EQ(base64url_encode(as_bytes("f")), "Zg");
  EXPECT_EQ(base64url_encode(as_bytes("fo")), "Zm8");
  EXPECT_EQ(base64url_encode(as_bytes("foo")), "Zm9v");
  EXPECT_EQ(base64url_encode(as_bytes("foob")), "Zm9vYg");
  const std::uint8_t high[] = {0xfb, 0xff};
  EXPECT_EQ(base64url_encode(high), "-_8");
}

TEST(Crypto, Sha256KnownAnswer) {
  const Digest d = sha256(as_bytes("abc"));
  EXPECT_EQ(hex_encode(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(fingerprint8(as_bytes("abc")), "ba7816bf");
}

TEST(Crypto, HmacMatchesRfc4231Case2AndIsReusable) {
  auto mac = HmacSha256::create(Secret::copy_of(std::string_view("Jefe")));
  ASSERT_TRUE(mac);
  const std::string expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  // Split input: the parts are concatenated.
  EXPECT_EQ(hex_encode(mac->mac({as_bytes("what do ya want "), as_bytes("for nothing?")})),
            expected);
  // Second use of the same context gives the same answer (key kept across messages).
  EXPECT_EQ(hex_encode(mac->mac({as_bytes("what do ya want for nothing?")})), expected);
}

TEST(Crypto, HkdfDependsOnInfo) {
  const Secret key = Secret::copy_of(std::string_view("0123456789abcdef0123456789abcdef"));
  auto a = hkdf_sha256(key, "purpose a", 32);
  auto a2 = hkdf_sha256(key, "purpose a", 32);
  auto b = hkdf_sha256(key, "purpose b", 32);
  ASSERT_TRUE(a && a2 && b);
  EXPECT_TRUE(a->equals(*a2));
  EXPECT_FALSE(a->equals(*b));
  EXPECT_FALSE(a->equals(key));
}

TEST(Crypto, Ed25519SignVerifyAndRejectTampering) {
  auto key = SigningKey::generate();
  ASSERT_TRUE(key);
  auto sig = key->sign(as_bytes("head 42"));
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->size(), 64u);
  EXPECT_TRUE(*ed25519_verify(key->public_pem(), as_bytes("head 42"), *sig));
  EXPECT_FALSE(*ed25519_verify(key->public_pem(), as_bytes("head 43"), *sig));
  auto other = SigningKey::generate();
  EXPECT_FALSE(*ed25519_verify(other->public_pem(), as_bytes("head 42"), *sig));
  EXPECT_FALSE(ed25519_verify("not a key", as_bytes("x"), *sig));
}

TEST(Crypto, RandomSecretsDiffer) {
  const Secret a = random_secret(32);
  const Secret b = random_secret(32);
  EXPECT_FALSE(a.equals(b));
}

}  // namespace
}  // namespace sekisho
