// TOTP (RFC 6238, SHA-1, 6 digits, 30 s steps) for the second factor at login, using liboath.
#pragma once

#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "base/secret.hpp"

namespace sekisho::ldap {

// A new 160-bit TOTP key from the system's secure random source. The caller stores it (encrypted)
// and shows it to the user once, as totp_base32() or totp_uri().
Secret generate_totp_secret();

// RFC 4648 base32 of `secret` (upper case, no padding), the form authenticator apps accept.
// The returned string is as secret as the key: the caller wipes it after use.
std::string totp_base32(const Secret& secret);

// "otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30" with
// issuer and account percent-encoded. As secret as the key.
std::string totp_uri(const Secret& secret, const std::string& account, const std::string& issuer);

// True when `code` is exactly six ASCII digits equal to the TOTP of `secret` at `now` or within
// `window` 30-second steps before or after it. Every candidate is computed and compared without
// early exit. False for an empty secret, a negative window or a code of any other form.
// Any thread may call it.
bool totp_verify(const Secret& secret, std::string_view code, TimePoint now, int window = 1);

}  // namespace sekisho::ldap
