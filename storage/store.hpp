// Store: the encrypted SQLCipher database that holds all of Sekisho's state.
// Only the core process opens it; workers never see it or the master key.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "storage/sqlite.hpp"

namespace sekisho::storage {

// The schema version this binary writes; a store with a newer version is refused.
int latest_schema_version();

// SQLCipher page size of every store. Large pages make the per-page decryption and HMAC cost
// small per row: a full scan of the audit chain runs ~3.5x faster than with the 1 KiB default
// (bench/audit_bench). SQLCipher 3.4 does not record it in the file, so it is part of the format.
inline constexpr int kCipherPageSize = 16384;

class Store {
 public:
  struct OpenOptions {
    // Apply pending schema migrations. Offline readers (audit verify) leave the schema alone.
    bool migrate = true;
  };

  // A connection handed to code running inside Store::transact/read, under the store lock.
  class Tx {
   public:
    explicit Tx(sqlite3* db) : db_(db) {}
    [[nodiscard]] Result<Statement> prepare(std::string_view sql) {
      return storage::prepare(db_, sql);
    }
    [[nodiscard]] Result<void> exec(const std::string& sql) { return storage::exec(db_, sql); }
    std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
    // Rows changed by the last INSERT, UPDATE or DELETE.
    int changes() const { return sqlite3_changes(db_); }

   private:
    sqlite3* db_;
  };

  // Creates a new encrypted store at `path` (which must not exist) and applies all migrations.
  [[nodiscard]] static Result<std::unique_ptr<Store>> create(const std::filesystem::path& path,
                                                             const Secret& key);
  // Opens an existing store. Refuses, with one line saying why: a plaintext SQLite file, a binary
  // linked against plain SQLite, a wrong key, a schema newer than this binary.
  [[nodiscard]] static Result<std::unique_ptr<Store>> open(const std::filesystem::path& path,
                                                           const Secret& key, OpenOptions options);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int schema_version() const { return schema_version_; }

  // Runs `fn` in one write transaction (BEGIN IMMEDIATE … COMMIT) under the store lock. The
  // transaction commits only when `fn` succeeds; once this returns success the change is durable
  // (WAL, synchronous=FULL). Any thread may call it; calls are serialised.
  [[nodiscard]] Result<void> transact(const std::function<Result<void>(Tx&)>& fn);
  // Runs `fn` in a read transaction under the store lock.
  [[nodiscard]] Result<void> read(const std::function<Result<void>(Tx&)>& fn);

  // Re-encrypts the whole store under `new_key` (SQLCipher PRAGMA rekey). Atomic: after a crash
  // the file opens with either the old or the new key. The caller keeps both keys until this
  // returns.
  [[nodiscard]] Result<void> rekey(const Secret& new_key);

  // Key/value settings (bytes), e.g. the audit chain key.
  [[nodiscard]] Result<std::optional<Secret>> get_setting(std::string_view name);
  [[nodiscard]] Result<void> put_setting(Tx& tx, std::string_view name,
                                         std::span<const std::uint8_t> value);

 private:
  Store(Sqlite db, int version) : db_(std::move(db)), schema_version_(version) {}
  static Result<std::unique_ptr<Store>> open_keyed(const std::filesystem::path& path,
                                                   const Secret& key, OpenOptions options,
                                                   bool create);
  Result<void> migrate();

  std::mutex mu_;
  Sqlite db_;
  int schema_version_;
};

}  // namespace sekisho::storage
