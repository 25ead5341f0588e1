// SSH public keys as users and hosts present them: parsing a user's key for `keys add` or the key a
// host-key probe reported for `hosts add`, fingerprints, and comparing a presented host key with
// the pinned one. Key handling only: nothing here speaks the SSH protocol. The core parses keys
// with it; fetching a target's host key is a worker's job (worker/ssh/host_key_probe.hpp, started
// by broker/ssh/host_key_probe.hpp), because the core never talks SSH to a managed host.
#pragma once

#include <libssh/libssh.h>

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

// A target host's key as presented during the SSH handshake, checked by parse_ssh_public_key.
struct SshHostKey {
  std::string type;         // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", …
  std::string public_line;  // "type base64", known_hosts style without the host name
  std::string fingerprint;  // "SHA256:<unpadded base64>"
};

// "type base64" of a key's public part, known_hosts style without the host name (ECDSA keys named
// by their curve, "ecdsa-sha2-nistp256"): what a host-key probe reports and parse_ssh_public_key
// reads back. kInternal when libssh cannot encode the key. Pure function; any thread.
[[nodiscard]] Result<std::string> ssh_public_key_line(ssh_key key);

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
