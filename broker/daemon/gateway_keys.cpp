#include "broker/daemon/gateway_keys.hpp"

#include <libssh/libssh.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "base/c_handle.hpp"
#include "base/crypto.hpp"
#include "base/files.hpp"
#include "ssh/handles.hpp"

namespace sekisho::broker {

namespace {

using Pkey = CHandle<EVP_PKEY, EVP_PKEY_free>;
using Cert = CHandle<X509, X509_free>;
using Bio = CHandle<BIO, BIO_free_all>;

Error ssl_error(const std::string& what) {
  const unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return Error{ErrorCode::kInternal, what + ": " + buf};
}

std::string cert_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  return "SHA256:" + hex_encode(ByteView(md, len));
}

Result<void> add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  CHandle<X509_EXTENSION, X509_EXTENSION_free> ext(
      X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return tl::make_unexpected(ssl_error("certificate extension"));
  }
  return ok();
}

std::string subject_alt_names() {
  std::string san = "IP:127.0.0.1,IP:::1,DNS:localhost";
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' &&
      std::string_view(host) != "localhost") {
    san += ",DNS:" + std::string(host);
  }
  return san;
}

Result<Cert> self_signed(EVP_PKEY* key) {
  Cert cert(X509_new());
  unsigned char serial_bytes[16];
  random_fill(serial_bytes);
  serial_bytes[0] &= 0x7f;  // a positive serial number
  CHandle<BIGNUM, BN_free> serial(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
  if (!cert || !serial || X509_set_version(cert.get(), 2) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 2L * 365 * 24 * 3600) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return tl::make_unexpected(ssl_error("certificate fields"));
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Sekisho"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("sekishod"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  for (const auto& [nid, value] :
       {std::pair{NID_subject_alt_name, subject_alt_names()},
        std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")},
        std::pair{NID_key_usage, std::string("critical,digitalSignature")},
        std::pair{NID_ext_key_usage, std::string("serverAuth")}}) {
    if (auto r = add_extension(cert.get(), nid, value); !r) return tl::make_unexpected(r.error());
  }
  if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) {
    return tl::make_unexpected(ssl_error("certificate signature"));
  }
  return cert;
}

}  // namespace

Result<std::string> create_tls_identity(const std::filesystem::path& cert_path,
                                        const std::filesystem::path& key_path) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return tl::make_unexpected(ssl_error("TLS key generation"));
  auto cert = self_signed(key.get());
  if (!cert) return tl::make_unexpected(cert.error());

  Bio key_bio(BIO_new(BIO_s_secmem()));
  Bio cert_bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509(cert_bio.get(), cert->get()) != 1) {
    return tl::make_unexpected(ssl_error("writing the TLS identity"));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(key_bio.get(), &data);
  const Secret key_pem = Secret::copy_of(std::string_view(data, static_cast<std::size_t>(len)));
  if (auto r = write_file_atomic(key_path, key_pem.bytes(), 0600); !r)
    return tl::make_unexpected(r.error());
  len = BIO_get_mem_data(cert_bio.get(), &data);
  if (auto r = write_file_atomic(
          cert_path, as_bytes(std::string_view(data, static_cast<std::size_t>(len))), 0644);
      !r) {
    return tl::make_unexpected(r.error());
  }
  return cert_fingerprint(cert->get());
}

Result<std::string> tls_certificate_fingerprint(const std::filesystem::path& cert_path) {
  auto pem = read_file(cert_path, 64 * 1024);
  if (!pem) return tl::make_unexpected(pem.error());
  Bio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return tl::make_unexpected(ssl_error("reading " + cert_path.string()));
  return cert_fingerprint(cert.get());
}

Result<std::string> create_ssh_host_key(const std::filesystem::path& path) {
  using ssh::SshKey;
  ssh_key raw = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK) {
    return fail(ErrorCode::kInternal, "SSH host key generation failed");
  }
  SshKey key(raw);
  // libssh writes with the process umask; init runs with umask 077, and we chmod to be sure.
  if (ssh_pki_export_privkey_file(key.get(), nullptr, nullptr, nullptr, path.c_str()) != SSH_OK) {
    return fail(ErrorCode::kIo, "cannot write SSH host key " + path.string());
  }
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key.get(), &b64) != SSH_OK) {
    return fail(ErrorCode::kInternal, "cannot export SSH host public key");
  }
  const std::string pub = std::string("ssh-ed25519 ") + b64 + " sekishod\n";
  ssh_string_free_char(b64);
  std::filesystem::path pub_path = path;
  pub_path += ".pub";
  if (auto r = write_file_atomic(pub_path, as_bytes(pub), 0644); !r)
    return tl::make_unexpected(r.error());

  unsigned char* hash = nullptr;
  size_t hash_len = 0;
  if (ssh_get_publickey_hash(key.get(), SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) != SSH_OK) {
    return fail(ErrorCode::kInternal, "cannot fingerprint SSH host key");
  }
  char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
  ssh_clean_pubkey_hash(&hash);
  std::string out = fp != nullptr ? fp : "";
  ssh_string_free_char(fp);
  return out;
}

}  // namespace sekisho::broker
