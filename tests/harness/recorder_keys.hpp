// Key material for the recorder test tools: a key directory with recording.key (32 raw bytes),
// signing.key and signing.pub (Ed25519 PEM), created on first use.
#pragma once

#include <filesystem>
#include <stdexcept>

#include "base/crypto.hpp"
#include "base/files.hpp"
#include "recorder/recording.hpp"

namespace sekisho::testing {

struct ToolKeys {
  Secret recording_key;
  SigningKey signer;
};

inline ToolKeys load_tool_keys(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const auto rk = dir / "recording.key";
  if (!std::filesystem::exists(rk)) {
    const Secret fresh = random_secret(32);
    if (!write_file_atomic(rk, fresh.bytes(), 0600))
      throw std::runtime_error("writing " + rk.string());
  }
  if (!std::filesystem::exists(dir / "signing.key")) {
    auto k = SigningKey::generate();
    if (!k || !k->save(dir / "signing.key", dir / "signing.pub")) {
      throw std::runtime_error("writing the signing key");
    }
  }
  auto key = read_private_file(rk, 64);
  auto signer = SigningKey::load(dir / "signing.key");
  if (!key || key->size() != 32 || !signer)
    throw std::runtime_error("reading keys in " + dir.string());
  return {std::move(*key), std::move(*signer)};
}

inline recorder::Reader::KeyUnwrapper tool_unwrapper(const ToolKeys& keys) {
  return [&keys](const recorder::Header& h, ByteView wrapped) {
    return recorder::unwrap_data_key(keys.recording_key, h.session_id, wrapped);
  };
}

}  // namespace sekisho::testing
