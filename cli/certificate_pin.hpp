// Pinning of the gateway's self-signed TLS certificate: an OpenSSL verification callback that
// compares the SHA-256 of the leaf certificate's DER encoding with the pinned value. It runs
// inside the TLS handshake, so a mismatch aborts the connection before any HTTP byte (password,
// token) is written.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <optional>
#include <string>

namespace sekisho::cli {

// What one client expects and what the server presented.
struct PinState {
  // The fingerprint the server must present. When empty, the first certificate seen is accepted
  // and becomes the expectation for every later connection of the same client (so that a login
  // that takes two requests cannot be split between two servers).
  std::optional<std::string> expected;
  // The fingerprint presented at the latest handshake ("" before any).
  std::string presented;
  // True once a handshake was refused because the fingerprints differed.
  bool mismatch = false;
};

// "SHA256:<64 lowercase hex>" of the DER encoding, the form `sekishod init` prints.
std::string certificate_fingerprint(X509* certificate);

// Makes every handshake on `ctx` call the pin check with `state`, which must outlive `ctx`'s use.
// Chain and host name verification are replaced by the pin: the certificate is self-signed.
void install_pin_verifier(SSL_CTX* ctx, PinState* state);

}  // namespace sekisho::cli
