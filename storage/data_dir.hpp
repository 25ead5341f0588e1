// DataDir: the files of one gateway's data directory, the master key in it, and opening the store.
#pragma once

#include <filesystem>
#include <memory>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

// Names of the files in a data directory. Pure paths; nothing here touches the disk.
class DataDir {
 public:
  explicit DataDir(std::filesystem::path root) : root_(std::move(root)) {}
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path store() const { return root_ / "sekisho.db"; }
  std::filesystem::path master_key() const { return root_ / "master.key"; }
  // Written before a rekey and renamed over master.key after it: see rekey_data_dir.
  std::filesystem::path master_key_next() const { return root_ / "master.key.next"; }
  std::filesystem::path signing_key() const { return root_ / "signing.key"; }
  std::filesystem::path signing_public_key() const { return root_ / "signing.pub"; }
  std::filesystem::path ssh_host_key() const { return root_ / "ssh_host_ed25519_key"; }
  std::filesystem::path tls_certificate() const { return root_ / "tls.crt"; }
  std::filesystem::path tls_key() const { return root_ / "tls.key"; }
  std::filesystem::path audit_checkpoints() const { return root_ / "audit-checkpoints.jsonl"; }
  std::filesystem::path lock_file() const { return root_ / "lock"; }
  // Session recordings, one <session id>.skr each (dir 0700, files 0600); sessions.recording_path
  // holds the name relative to the data dir, so that a data dir can be moved.
  std::filesystem::path recordings() const { return root_ / "recordings"; }

 private:
  std::filesystem::path root_;
};

// Reads a master key file: 64 hex digits and a newline, mode 0600 (refused when group or others
// have any access).
[[nodiscard]] Result<Secret> load_master_key(const std::filesystem::path& path);
[[nodiscard]] Result<void> write_master_key(const std::filesystem::path& path, const Secret& key);

// An exclusive lock on a data directory, held for as long as this object lives, so that two
// daemons (or a daemon and a rekey) never write one store.
class DataDirLock {
 public:
  [[nodiscard]] static Result<DataDirLock> acquire(const DataDir& dir);
  DataDirLock(DataDirLock&& other) noexcept;
  DataDirLock& operator=(DataDirLock&&) = delete;
  DataDirLock(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

// Loads the master key and opens the store. If a rekey was interrupted, finishes or undoes it:
// whichever of master.key and master.key.next opens the store becomes master.key.
[[nodiscard]] Result<std::unique_ptr<Store>> open_data_dir_store(const DataDir& dir,
                                                                 Store::OpenOptions options);

// Rotates the master key: writes master.key.next durably, re-encrypts the store, then renames
// the new key over the old one. A crash at any point leaves a store that open_data_dir_store opens.
// The caller holds the DataDirLock.
[[nodiscard]] Result<void> rekey_data_dir(const DataDir& dir);

}  // namespace sekisho::storage
