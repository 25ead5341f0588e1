#include "cli/certificate_pin.hpp"

#include <openssl/evp.h>

#include "base/crypto.hpp"

namespace sekisho::cli {

namespace {

// Called by OpenSSL from C: must not throw.
extern "C" int verify_pinned_leaf(X509_STORE_CTX* store, void* arg) {
  auto* state = static_cast<PinState*>(arg);
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  if (state == nullptr || leaf == nullptr) return 0;
  try {
    state->presented = certificate_fingerprint(leaf);
    if (state->presented.empty()) return 0;
    if (state->expected && *state->expected != state->presented) {
      state->mismatch = true;
      X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
      return 0;
    }
    if (!state->expected) state->expected = state->presented;
    return 1;
  } catch (...) {
    return 0;
  }
}

}  // namespace

std::string certificate_fingerprint(X509* certificate) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(certificate, EVP_sha256(), md, &len) != 1) return "";
  return "SHA256:" + hex_encode(ByteView(md, len));
}

void install_pin_verifier(SSL_CTX* ctx, PinState* state) {
  // VERIFY_PEER makes a failed check abort the handshake; the callback replaces chain building.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, verify_pinned_leaf, state);
}

}  // namespace sekisho::cli
