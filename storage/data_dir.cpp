#include "storage/data_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "base/crypto.hpp"
#include "base/files.hpp"
#include "base/logging.hpp"

namespace sekisho::storage {

Result<Secret> load_master_key(const std::filesystem::path& path) {
  auto text = read_private_file(path, 256);
  if (!text) {
    return fail(text.error().code, "master key: " + text.error().message);
  }
  std::string_view hex = text->view();
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.remove_suffix(1);
  auto key = hex_decode_secret(hex);
  if (!key || key->size() != 32) {
    return fail(ErrorCode::kCorrupt,
                "master key " + path.string() + " is malformed (expected 64 hex digits)");
  }
  return key;
}

Result<void> write_master_key(const std::filesystem::path& path, const Secret& key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  Secret text(key.size() * 2 + 1);
  for (std::size_t i = 0; i < key.size(); ++i) {
    text.data()[2 * i] = static_cast<std::uint8_t>(kDigits[key.data()[i] >> 4]);
    text.data()[2 * i + 1] = static_cast<std::uint8_t>(kDigits[key.data()[i] & 0xf]);
  }
  text.data()[text.size() - 1] = '\n';
  return write_file_atomic(path, text.bytes(), 0600);
}

Result<DataDirLock> DataDirLock::acquire(const DataDir& dir) {
  const int fd = ::open(dir.lock_file().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(ErrorCode::kIo,
                "cannot open " + dir.lock_file().string() + ": " + errno_text(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return fail(ErrorCode::kAlreadyExists,
                "data dir " + dir.root().string() + " is in use by another sekishod");
  }
  return DataDirLock(fd);
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<Store>> open_data_dir_store(const DataDir& dir, Store::OpenOptions options) {
  auto key = load_master_key(dir.master_key());
  if (!key) return tl::make_unexpected(key.error());
  auto store = Store::open(dir.store(), *key, options);
  if (store || !std::filesystem::exists(dir.master_key_next())) {
    if (store) std::filesystem::remove(dir.master_key_next());
    return store;
  }
  // master.key did not open the store and a next key exists: a rekey got as far as re-encrypting.
  auto next = load_master_key(dir.master_key_next());
  if (!next) return tl::make_unexpected(store.error());
  auto rekeyed = Store::open(dir.store(), *next, options);
  if (!rekeyed) return tl::make_unexpected(store.error());
  std::error_code ec;
  std::filesystem::rename(dir.master_key_next(), dir.master_key(), ec);
  if (ec) {
    return fail(ErrorCode::kIo, "cannot finish interrupted rekey: " + ec.message());
  }
  if (auto r = fsync_directory(dir.root()); !r) return tl::make_unexpected(r.error());
  module_logger("storage")->warn("finished a master key rotation that was interrupted");
  return rekeyed;
}

Result<void> rekey_data_dir(const DataDir& dir) {
  auto store = open_data_dir_store(dir, Store::OpenOptions{.migrate = false});
  if (!store) return tl::make_unexpected(store.error());
  const Secret next = random_secret(32);
  if (auto r = write_master_key(dir.master_key_next(), next); !r) return r;
  if (auto r = (*store)->rekey(next); !r) {
    std::filesystem::remove(dir.master_key_next());
    return r;
  }
  store->reset();  // close before the key file changes hands
  std::error_code ec;
  std::filesystem::rename(dir.master_key_next(), dir.master_key(), ec);
  if (ec) return fail(ErrorCode::kIo, "cannot install the new master key: " + ec.message());
  return fsync_directory(dir.root());
}

}  // namespace sekisho::storage
