// The SSH login to a managed target, in three steps: a libssh client session that reads no file
// of its own, the handshake over a TCP connection someone else opened (the core connects, the
// worker has no connect()), and the login with the vaulted credential. Between the handshake and
// the login the caller has the presented host key checked against the pinned one: in the
// gateway that check is the core's, which the worker cannot be trusted to make.
#pragma once

#include <libssh/libssh.h>

#include <string>
#include <string_view>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "ssh/handles.hpp"

namespace sekisho::ssh {

// The account on a target host that the gateway logs in to, as a grant names it.
struct TargetAccount {
  std::string address;          // only names the target in libssh's messages: nothing is resolved
  unsigned int port = 22;       // likewise
  std::string account;          // the user logged in as
  std::string pinned_host_key;  // "type base64": only keys of its type are offered in the handshake
};

// How the vaulted credential logs in.
enum class CredentialKind {
  kPassword,    // the secret is the password
  kPrivateKey,  // the secret is an OpenSSH private key (PEM text, no passphrase)
};

// The host-key algorithms the handshake offers for a pinned "type base64" key: its type, or for
// ssh-rsa the SHA-2 signature algorithms of that key (rsa-sha2-512, rsa-sha2-256). Pure; any
// thread.
[[nodiscard]] std::string host_key_algorithms(std::string_view pinned_host_key);

// A libssh client session for `target`, not connected yet: no ~/.ssh/config, known_hosts or home
// directory is read (libssh would take the local user's home from the password database, which a
// chroot does not have). Errors: kInternal. Any thread (one session per call).
[[nodiscard]] Result<SshSession> new_target_session(const TargetAccount& target);

// The SSH handshake over `fd`, a connected TCP socket. The session takes `fd` over whatever the
// outcome (ssh_free closes it). Bounded by 30 s; every later blocking call on the session by 60 s.
// Errors: kInternal for a bad descriptor; kUnavailable "cannot reach the target host: …".
// Blocking; the thread that owns `session`.
[[nodiscard]] Result<void> handshake_target(ssh_session session, int fd);

// The host key the target presented in the handshake, as "type base64" ("" when libssh cannot
// encode it, which then matches no pinned key). Errors: kUnavailable "the target host sent no
// host key". The thread that owns `session`.
[[nodiscard]] Result<std::string> presented_host_key(ssh_session session);

// Logs in as the target's account with `secret`. Errors: kUnauthenticated when the target
// refuses the credential or asks for more (a second factor); kUnavailable when it does not answer
// within the limit, the connection drops or the private key cannot be read — not a verdict on
// the credential. The secret's copies made for libssh are wiped. Blocking; the thread that owns
// `session`.
[[nodiscard]] Result<void> log_in_to_target(ssh_session session, CredentialKind kind,
                                            const Secret& secret);

}  // namespace sekisho::ssh
