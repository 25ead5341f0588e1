#include "ssh/keys.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "base/c_handle.hpp"
#include "ssh/handles.hpp"

namespace sekisho::ssh {
namespace {

// The key types a user may register; ECDSA names are as OpenSSH writes them.
constexpr std::array<std::string_view, 5> kAcceptedTypes = {
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits off the first run of non-blank characters; `rest` keeps what follows, untrimmed.
std::string_view next_token(std::string_view& rest) {
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  std::size_t end = 0;
  while (end < rest.size() && !is_space(rest[end])) ++end;
  std::string_view token = rest.substr(0, end);
  rest.remove_prefix(end);
  return token;
}

bool is_accepted_type(std::string_view type) {
  return std::find(kAcceptedTypes.begin(), kAcceptedTypes.end(), type) != kAcceptedTypes.end();
}

// Whether a token is safe to quote back in an error message.
bool is_quotable_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '@' || c == '.' || c == '_';
  });
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict standard base64 with padding, as OpenSSH writes key blobs.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    std::array<int, 4> v{};
    int pad = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = in[i + j];
      if (c == '=' && last && j >= 2) {
        ++pad;
        v[j] = 0;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[j] = base64_value(c);
      if (v[j] < 0) return std::nullopt;
    }
    const auto triple =
        static_cast<std::uint32_t>((v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3]);
    out.push_back(static_cast<std::uint8_t>(triple >> 16));
    if (pad < 2) out.push_back(static_cast<std::uint8_t>(triple >> 8));
    if (pad < 1) out.push_back(static_cast<std::uint8_t>(triple));
  }
  return out;
}

// Reads one SSH wire-format string (uint32 length + bytes) from `blob` at `pos`.
std::optional<std::string_view> read_wire_string(const std::vector<std::uint8_t>& blob,
                                                 std::size_t& pos) {
  if (blob.size() - pos < 4) return std::nullopt;
  const std::uint32_t len = (std::uint32_t{blob[pos]} << 24) |
                            (std::uint32_t{blob[pos + 1]} << 16) |
                            (std::uint32_t{blob[pos + 2]} << 8) | std::uint32_t{blob[pos + 3]};
  pos += 4;
  if (blob.size() - pos < len) return std::nullopt;
  std::string_view s(reinterpret_cast<const char*>(blob.data() + pos), len);
  pos += len;
  return s;
}

// Bit length of an RSA modulus taken from an "ssh-rsa" blob (string type, mpint e, mpint n).
// libssh 0.10 has no ssh_key_size(), so the blob is read here.
std::optional<int> rsa_modulus_bits(const std::vector<std::uint8_t>& blob) {
  std::size_t pos = 0;
  if (!read_wire_string(blob, pos) || !read_wire_string(blob, pos)) return std::nullopt;
  auto n = read_wire_string(blob, pos);
  if (!n) return std::nullopt;
  std::string_view modulus = *n;
  while (!modulus.empty() && modulus.front() == '\0') modulus.remove_prefix(1);
  if (modulus.empty()) return std::nullopt;
  int top_bits = 0;
  for (auto b = static_cast<unsigned char>(modulus.front()); b != 0; b >>= 1) ++top_bits;
  return static_cast<int>((modulus.size() - 1) * 8) + top_bits;
}

std::string key_type_name(ssh_key key) {
  const enum ssh_keytypes_e t = ssh_key_type(key);
  if (t == SSH_KEYTYPE_ECDSA_P256 || t == SSH_KEYTYPE_ECDSA_P384 || t == SSH_KEYTYPE_ECDSA_P521) {
    const char* name = ssh_pki_key_ecdsa_name(key);
    return name != nullptr ? name : "";
  }
  const char* name = ssh_key_type_to_char(t);
  return name != nullptr ? name : "";
}

Result<std::string> export_base64(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || b64 == nullptr) {
    return fail(ErrorCode::kInternal, "cannot encode SSH public key");
  }
  std::string out(b64);
  ssh_string_free_char(b64);
  return out;
}

// Refusals decided from the text alone, before any decoding.
std::optional<std::string> refuse_by_shape(std::string_view text) {
  if (text.find("PRIVATE KEY") != std::string_view::npos ||
      text.rfind("PuTTY-User-Key-File", 0) == 0) {
    return "this is a private key; give the .pub file";
  }
  if (text.rfind("---- BEGIN SSH2 PUBLIC KEY", 0) == 0) {
    return "RFC 4716 key format; convert it with `ssh-keygen -i -f FILE` first";
  }
  if (text.find_first_of("\r\n") != std::string_view::npos) {
    return "one public key per request: the text holds several lines";
  }
  return std::nullopt;
}

std::string refuse_type(std::string_view type, std::string_view rest) {
  if (type == "ssh-dss") return "DSA keys are refused (weak); use ssh-ed25519";
  if (type.find("-cert-v01@openssh.com") != std::string_view::npos) {
    return "SSH certificates are not supported; give the plain public key";
  }
  if (type.rfind("sk-", 0) == 0) return "security-key (sk-) keys are not supported yet";
  std::string_view after = rest;
  if (is_accepted_type(next_token(after))) {
    return "authorized_keys options are not accepted; give only \"type base64 [comment]\"";
  }
  if (is_quotable_name(type)) return "unsupported SSH key type '" + std::string(type) + "'";
  return "not an OpenSSH public key";
}

}  // namespace

std::string SshPublicKey::line() const {
  std::string out = type + " " + base64;
  if (!comment.empty()) out += " " + comment;
  return out;
}

Result<std::string> ssh_key_fingerprint(ssh_key key) {
  if (key == nullptr) return fail(ErrorCode::kInvalidArgument, "no SSH key to fingerprint");
  unsigned char* hash = nullptr;
  size_t hash_len = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) != SSH_OK) {
    return fail(ErrorCode::kInternal, "cannot fingerprint SSH key");
  }
  char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
  ssh_clean_pubkey_hash(&hash);
  if (fp == nullptr) return fail(ErrorCode::kInternal, "cannot fingerprint SSH key");
  std::string out(fp);
  ssh_string_free_char(fp);
  return out;
}

Result<SshPublicKey> parse_ssh_public_key(std::string_view text) {
  if (text.size() > kMaxPublicKeyText) {
    return fail(ErrorCode::kInvalidArgument, "public key text is larger than 16 KiB");
  }
  text = trim(text);
  if (text.empty()) return fail(ErrorCode::kInvalidArgument, "empty public key");
  if (auto why = refuse_by_shape(text)) return fail(ErrorCode::kInvalidArgument, *why);

  std::string_view rest = text;
  const std::string_view type = next_token(rest);
  if (!is_accepted_type(type)) return fail(ErrorCode::kInvalidArgument, refuse_type(type, rest));
  const std::string_view b64 = next_token(rest);
  const std::string_view comment = trim(rest);
  if (b64.empty()) return fail(ErrorCode::kInvalidArgument, "public key has no key data");
  if (comment.size() > kMaxKeyComment) {
    return fail(ErrorCode::kInvalidArgument, "public key comment is longer than 256 characters");
  }
  if (!std::all_of(comment.begin(), comment.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
    return fail(ErrorCode::kInvalidArgument,
                "public key comment must be printable ASCII characters");
  }

  const auto blob = base64_decode(b64);
  if (!blob) return fail(ErrorCode::kInvalidArgument, "public key data is not valid base64");
  std::size_t pos = 0;
  const auto blob_type = read_wire_string(*blob, pos);
  if (!blob_type) {
    return fail(ErrorCode::kInvalidArgument, "malformed " + std::string(type) + " public key");
  }
  if (*blob_type != type) {
    return fail(ErrorCode::kInvalidArgument,
                "public key data does not match its type " + std::string(type));
  }
  if (type == "ssh-rsa") {
    const auto bits = rsa_modulus_bits(*blob);
    if (!bits) return fail(ErrorCode::kInvalidArgument, "malformed RSA public key");
    if (*bits < kMinRsaBits) {
      return fail(ErrorCode::kInvalidArgument,
                  "RSA key of " + std::to_string(*bits) +
                      " bits is too short; at least 2048 bits (or use ssh-ed25519)");
    }
  }

  const std::string b64_str(b64);
  const std::string type_str(type);
  ssh_key raw = nullptr;
  if (ssh_pki_import_pubkey_base64(b64_str.c_str(), ssh_key_type_from_name(type_str.c_str()),
                                   &raw) != SSH_OK ||
      raw == nullptr) {
    return fail(ErrorCode::kInvalidArgument, "malformed " + std::string(type) + " public key");
  }
  SshKey key(raw);
  if (key_type_name(key.get()) != type) {
    return fail(ErrorCode::kInvalidArgument,
                "public key data does not match its type " + std::string(type));
  }
  auto canonical = export_base64(key.get());
  if (!canonical) return tl::make_unexpected(canonical.error());
  // Trailing bytes inside the blob are ignored by libssh; a key must round-trip exactly.
  if (*canonical != b64) {
    return fail(ErrorCode::kInvalidArgument, "malformed " + std::string(type) + " public key");
  }
  auto fingerprint = ssh_key_fingerprint(key.get());
  if (!fingerprint) return tl::make_unexpected(fingerprint.error());
  return SshPublicKey{std::string(type), std::move(*canonical), std::string(comment),
                      std::move(*fingerprint)};
}

Result<std::string> ssh_public_key_line(ssh_key key) {
  if (key == nullptr) return fail(ErrorCode::kInvalidArgument, "no SSH key");
  auto b64 = export_base64(key);
  if (!b64) return tl::make_unexpected(b64.error());
  const std::string type = key_type_name(key);
  if (type.empty()) return fail(ErrorCode::kInternal, "cannot name the SSH key's type");
  return type + " " + *b64;
}

std::string public_key_line(ssh_key key) {
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK || b64 == nullptr) return "";
  std::string line = std::string(ssh_key_type_to_char(ssh_key_type(key))) + " " + b64;
  ssh_string_free_char(b64);
  return line;
}

bool same_host_key(const SshHostKey& pinned, ssh_key presented) {
  if (presented == nullptr) return false;
  auto fingerprint = ssh_key_fingerprint(presented);
  return fingerprint && *fingerprint == pinned.fingerprint &&
         key_type_name(presented) == pinned.type;
}

}  // namespace sekisho::ssh
