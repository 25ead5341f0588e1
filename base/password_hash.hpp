// Slow, salted password hashes (yescrypt through libxcrypt) and random one-time passwords.
#pragma once

#include <string>

#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho {

// Hashes `password` with yescrypt and a fresh random salt; the result is a crypt(3) string.
[[nodiscard]] Result<std::string> hash_password(const Secret& password);
// Checks `password` against a crypt(3) string in constant time.
bool password_matches(const Secret& password, const std::string& hash);

// A random password of `length` characters from an alphabet without look-alikes (no 0/O, 1/l/I),
// drawn without modulo bias.
Secret generate_password(std::size_t length);

}  // namespace sekisho
