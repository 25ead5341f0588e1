// SSH public keys as users and hosts present them: parsing a user's key for `keys add`, and
// fetching a target's host key for `hosts add` so that it can be pinned.
#pragma once

#include <libssh/libssh.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace sekisho::ssh {

// A user's SSH public key, checked and in canonical form.
struct SshPublicKey {
  std::string type;         // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", …
  std::string base64;       // the key blob, canonical (re-encoded) base64
  std::string comment;      // may be empty; at most 256 printable ASCII characters
  std::string fingerprint;  // "SHA256:<unpadded base64>", as `ssh-keygen -lf` prints it

  // "type base64 comment" (without the trailing space when there is no comment).
  std::string line() const;
};

// The largest public key line accepted (an RSA 16384-bit key is about 2.8 KiB).
inline constexpr std::size_t kMaxPublicKeyText = 16 * 1024;
inline constexpr std::size_t kMaxKeyComment = 256;
inline constexpr int kMinRsaBits = 2048;

// Parses one OpenSSH public key line ("type base64 [comment]", authorized_keys style without
// options), after trimming surrounding whitespace. Accepts ssh-ed25519, ecdsa-sha2-nistp256/384/521
// and ssh-rsa of at least 2048 bits. Refuses DSA, short RSA, certificates, security-key (sk-)
// keys, private keys, several lines and anything libssh cannot load, with a one-line
// kInvalidArgument error. Pure function; any thread.
[[nodiscard]] Result<SshPublicKey> parse_ssh_public_key(std::string_view text);

// A target host's key as presented during the SSH handshake.
struct SshHostKey {
  std::string type;         // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", …
  std::string public_line;  // "type base64", known_hosts style without the host name
  std::string fingerprint;  // "SHA256:<unpadded base64>"
};

// Connects to ADDRESS:PORT with a libssh client (no ~/.ssh/config, no known_hosts read or
// written), completes the key exchange, takes the server's host key and disconnects without
// authenticating. Prefers ssh-ed25519, then ecdsa-sha2-nistp256, then RSA (SHA-2 signatures).
// `timeout` bounds the TCP connect and every wait of the handshake. Errors: kInvalidArgument for
// an empty address or port 0; kUnavailable "cannot reach ADDR:PORT: …" when the host cannot be
// connected to or the handshake fails. Blocking; any thread (one libssh session per call).
[[nodiscard]] Result<SshHostKey> probe_ssh_host_key(const std::string& address, std::uint16_t port,
                                                    std::chrono::seconds timeout);

// "SHA256:<unpadded base64>" of any libssh key (public or private; only the public part counts).
[[nodiscard]] Result<std::string> ssh_key_fingerprint(ssh_key key);

// "type base64" of a key as the worker reports it to the core, which compares and looks keys up
// by it (a user's key at login, a target's host key against the pinned one). "" when libssh
// cannot encode the key. Any thread.
std::string public_key_line(ssh_key key);

// True when `presented` is the key that was pinned (same type and SHA-256 fingerprint). A key
// that cannot be fingerprinted never matches.
bool same_host_key(const SshHostKey& pinned, ssh_key presented);

}  // namespace sekisho::ssh
