// The gateway's own identities, created once by `sekishod init`: the API's TLS certificate and
// the SSH host key that clients pin.
#pragma once

#include <filesystem>
#include <string>

#include "base/result.hpp"

namespace sekisho::broker {

// Creates a self-signed ECDSA P-256 certificate (valid 2 years; SAN 127.0.0.1, ::1, localhost and
// this machine's host name) with its key (0600). Returns the SHA-256 fingerprint of the
// certificate (DER), as the CLI will pin it: "SHA256:<hex>".
[[nodiscard]] Result<std::string> create_tls_identity(const std::filesystem::path& cert_path,
                                                      const std::filesystem::path& key_path);

// SHA-256 fingerprint of a PEM certificate file, in the same form.
[[nodiscard]] Result<std::string> tls_certificate_fingerprint(
    const std::filesystem::path& cert_path);

// Creates an Ed25519 SSH host key in OpenSSH format (0600) and its .pub (0644). Returns the
// OpenSSH-style fingerprint "SHA256:<base64>".
[[nodiscard]] Result<std::string> create_ssh_host_key(const std::filesystem::path& path);

}  // namespace sekisho::broker
