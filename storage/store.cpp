#include "storage/store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "base/crypto.hpp"
#include "base/files.hpp"
#include "storage/schema.hpp"

namespace sekisho::storage {

namespace {

constexpr char kPlainHeader[] = "SQLite format 3";  // 16 bytes with its NUL

// Reads the first 16 bytes: a plaintext SQLite file starts with its magic string, an encrypted
// one with random salt.
Result<bool> looks_like_plain_sqlite(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                errno == ENOENT ? "no store at " + path.string() + "; run: sekishod init"
                                : "cannot read store " + path.string() + ": " + errno_text(errno));
  }
  char head[16] = {};
  const ssize_t n = ::read(fd, head, sizeof head);
  ::close(fd);
  return n == 16 && std::memcmp(head, kPlainHeader, sizeof kPlainHeader) == 0;
}

// Builds `PRAGMA <verb> = "x'<hex>'";` inside a Secret so that the statement text is wiped too.
Secret key_pragma(const char* verb, const Secret& key) {
  const std::string prefix = std::string("PRAGMA ") + verb + " = \"x'";
  const std::string suffix = "'\";";
  Secret sql(prefix.size() + key.size() * 2 + suffix.size());
  char* out = reinterpret_cast<char*>(sql.data());
  std::memcpy(out, prefix.data(), prefix.size());
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < key.size(); ++i) {
    out[prefix.size() + 2 * i] = kDigits[key.data()[i] >> 4];
    out[prefix.size() + 2 * i + 1] = kDigits[key.data()[i] & 0xf];
  }
  std::memcpy(out + prefix.size() + key.size() * 2, suffix.data(), suffix.size());
  return sql;
}

Result<void> exec_secret(sqlite3* db, const Secret& sql) {
  // sqlite3_exec needs a NUL-terminated string: copy into a Secret one byte longer.
  Secret z(sql.size() + 1);
  std::memcpy(z.data(), sql.data(), sql.size());
  return exec(db, reinterpret_cast<const char*>(z.data()));
}

Result<int> user_version(sqlite3* db) {
  auto v = query_text(db, "PRAGMA user_version");
  if (!v) return tl::make_unexpected(v.error());
  return v->has_value() ? std::stoi(**v) : 0;
}

}  // namespace

int latest_schema_version() { return migrations().back().version; }

Result<std::unique_ptr<Store>> Store::create(const std::filesystem::path& path, const Secret& key) {
  if (std::filesystem::exists(path)) {
    return fail(ErrorCode::kAlreadyExists, "store " + path.string() + " already exists");
  }
  return open_keyed(path, key, OpenOptions{.migrate = true}, true);
}

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& path, const Secret& key,
                                           OpenOptions options) {
  auto plain = looks_like_plain_sqlite(path);
  if (!plain) return tl::make_unexpected(plain.error());
  if (*plain) {
    return fail(ErrorCode::kCorrupt, "store " + path.string() +
                                         " is a plaintext SQLite file, not an encrypted Sekisho "
                                         "store; refusing to use it");
  }
  return open_keyed(path, key, options, false);
}

Result<std::unique_ptr<Store>> Store::open_keyed(const std::filesystem::path& path,
                                                 const Secret& key, OpenOptions options,
                                                 bool create) {
  if (key.size() != 32) return fail(ErrorCode::kInvalidArgument, "master key must be 32 bytes");
  auto db = open_sqlite(path, create);
  if (!db) return tl::make_unexpected(db.error());
  sqlite3* raw = db->get();

  // Unknown PRAGMAs succeed silently, so an empty cipher_version is the only sign of plain SQLite.
  auto cipher = query_text(raw, "PRAGMA cipher_version");
  if (!cipher || !cipher->has_value() || (*cipher)->empty()) {
    return fail(ErrorCode::kUnsupported,
                "this sekishod is linked against plain SQLite, not SQLCipher; refusing to open "
                "the store unencrypted");
  }
  if (auto r = exec_secret(raw, key_pragma("key", key)); !r) return tl::make_unexpected(r.error());
  // Not stored in the file: every open (including by hand with the sqlcipher CLI) must repeat it.
  if (auto r = exec(raw, "PRAGMA cipher_page_size = " + std::to_string(kCipherPageSize) + ";");
      !r) {
    return tl::make_unexpected(r.error());
  }
  // The key is checked lazily: the first read of the schema tells whether it was right.
  if (auto r = exec(raw, "SELECT count(*) FROM sqlite_master;"); !r) {
    return fail(ErrorCode::kUnauthenticated,
                "the master key does not open store " + path.string() +
                    " (wrong key, or the file is not a Sekisho store)");
  }
  if (auto r = exec(raw,
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                    "PRAGMA foreign_keys = ON;");
      !r) {
    return tl::make_unexpected(r.error());
  }
  auto version = user_version(raw);
  if (!version) return tl::make_unexpected(version.error());
  if (*version > latest_schema_version()) {
    return fail(ErrorCode::kUnsupported, "store schema version " + std::to_string(*version) +
                                             " is newer than this sekishod supports (" +
                                             std::to_string(latest_schema_version()) +
                                             "); install a newer sekishod");
  }
  std::unique_ptr<Store> store(new Store(std::move(*db), *version));
  if (options.migrate) {
    if (auto r = store->migrate(); !r) return tl::make_unexpected(r.error());
  } else if (*version == 0) {
    return fail(ErrorCode::kCorrupt, "store " + path.string() + " has no schema yet");
  }
  return store;
}

namespace {

// Fails when any row references a missing parent (after a table rebuild ran without checks).
Result<void> check_foreign_keys(Store::Tx& tx) {
  auto stmt = tx.prepare("PRAGMA foreign_key_check");
  if (!stmt) return tl::make_unexpected(stmt.error());
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (*row) {
    return fail(ErrorCode::kCorrupt,
                "a row of table " + stmt->column_text(0) + " lost its " + stmt->column_text(2));
  }
  return ok();
}

}  // namespace

Result<void> Store::migrate() {
  for (const Migration& m : migrations()) {
    if (m.version <= schema_version_) continue;
    // PRAGMA foreign_keys is a no-op inside a transaction: switch it around the transaction.
    if (m.rebuilds_table) {
      if (auto e = exec(db_.get(), "PRAGMA foreign_keys = OFF;"); !e) return e;
    }
    auto r = transact([&](Tx& tx) -> Result<void> {
      if (auto e = tx.exec(m.sql); !e) return e;
      if (m.rebuilds_table) {
        if (auto e = check_foreign_keys(tx); !e) return e;
      }
      return tx.exec("PRAGMA user_version = " + std::to_string(m.version) + ";");
    });
    if (m.rebuilds_table) {
      if (auto e = exec(db_.get(), "PRAGMA foreign_keys = ON;"); !e && r) r = e;
    }
    if (!r) {
      return fail(r.error().code, "schema migration to version " + std::to_string(m.version) +
                                      " failed: " + r.error().message);
    }
    schema_version_ = m.version;
  }
  return ok();
}

Result<void> Store::transact(const std::function<Result<void>(Tx&)>& fn) {
  std::lock_guard lock(mu_);
  if (auto r = exec(db_.get(), "BEGIN IMMEDIATE;"); !r) return r;
  Tx tx(db_.get());
  auto r = fn(tx);
  if (r) r = exec(db_.get(), "COMMIT;");
  if (!r) {
    (void)exec(db_.get(), "ROLLBACK;");
    return r;
  }
  return ok();
}

Result<void> Store::read(const std::function<Result<void>(Tx&)>& fn) {
  std::lock_guard lock(mu_);
  if (auto r = exec(db_.get(), "BEGIN;"); !r) return r;
  Tx tx(db_.get());
  auto r = fn(tx);
  (void)exec(db_.get(), r ? "COMMIT;" : "ROLLBACK;");
  return r;
}

Result<void> Store::rekey(const Secret& new_key) {
  if (new_key.size() != 32) return fail(ErrorCode::kInvalidArgument, "master key must be 32 bytes");
  std::lock_guard lock(mu_);
  // SQLCipher 3.4 cannot rekey a database in WAL mode: fold the WAL back and use a rollback
  // journal, which makes the rekey one atomic transaction.
  if (auto r = exec(db_.get(), "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;");
      !r) {
    return r;
  }
  auto rekeyed = exec_secret(db_.get(), key_pragma("rekey", new_key));
  auto back = exec(db_.get(), "PRAGMA journal_mode = WAL;");
  if (!rekeyed) return fail(rekeyed.error().code, "rekey failed: " + rekeyed.error().message);
  return back;
}

Result<std::optional<Secret>> Store::get_setting(std::string_view name) {
  std::optional<Secret> value;
  auto r = read([&](Tx& tx) -> Result<void> {
    auto stmt = tx.prepare("SELECT value FROM settings WHERE name = ?");
    if (!stmt) return tl::make_unexpected(stmt.error());
    stmt->bind(1, name);
    auto row = stmt->step();
    if (!row) return tl::make_unexpected(row.error());
    if (*row) value = Secret::copy_of(stmt->column_blob(0));
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return value;
}

Result<void> Store::put_setting(Tx& tx, std::string_view name,
                                std::span<const std::uint8_t> value) {
  auto stmt = tx.prepare("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  stmt->bind(1, name).bind_blob(2, value);
  return stmt->run();
}

}  // namespace sekisho::storage
