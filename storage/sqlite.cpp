#include "storage/sqlite.hpp"

namespace sekisho::storage {

std::string sqlite_error(sqlite3* db, std::string_view what) {
  return std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_.get(), index, value);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_.get(), index, text.data(), static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind_blob(int index, std::span<const std::uint8_t> blob) {
  sqlite3_bind_blob(stmt_.get(), index, blob.data(), static_cast<int>(blob.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind_null(int index) {
  sqlite3_bind_null(stmt_.get(), index);
  return *this;
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return fail(rc == SQLITE_NOTADB ? ErrorCode::kUnauthenticated : ErrorCode::kIo,
              sqlite_error(db_, "database statement failed"));
}

Result<void> Statement::run() {
  for (;;) {
    auto more = step();
    if (!more) return tl::make_unexpected(more.error());
    if (!*more) return ok();
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(stmt_.get(), index);
}

std::string Statement::column_text(int index) const {
  const auto* p = sqlite3_column_text(stmt_.get(), index);
  const int n = sqlite3_column_bytes(stmt_.get(), index);
  return p != nullptr ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
                      : std::string();
}

std::string_view Statement::column_view(int index) const {
  const auto* p = sqlite3_column_text(stmt_.get(), index);
  const int n = sqlite3_column_bytes(stmt_.get(), index);
  return p != nullptr
             ? std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
             : std::string_view();
}

std::span<const std::uint8_t> Statement::column_blob(int index) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_.get(), index));
  const int n = sqlite3_column_bytes(stmt_.get(), index);
  return {p, static_cast<std::size_t>(n)};
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_.get(), index) == SQLITE_NULL;
}

Result<Sqlite> open_sqlite(const std::filesystem::path& path, bool create) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Sqlite db(raw);
  if (rc != SQLITE_OK) {
    return fail(rc == SQLITE_CANTOPEN ? ErrorCode::kNotFound : ErrorCode::kIo,
                sqlite_error(raw, "cannot open store " + path.string()));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

Result<void> exec(sqlite3* db, const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    return fail((rc & 0xff) == SQLITE_NOTADB ? ErrorCode::kUnauthenticated : ErrorCode::kIo,
                "database error: " + text);
  }
  return ok();
}

Result<Statement> prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return fail((rc & 0xff) == SQLITE_NOTADB ? ErrorCode::kUnauthenticated : ErrorCode::kIo,
                sqlite_error(db, "cannot prepare statement"));
  }
  return Statement(db, stmt);
}

Result<std::optional<std::string>> query_text(sqlite3* db, std::string_view sql) {
  auto stmt = prepare(db, sql);
  if (!stmt) return tl::make_unexpected(stmt.error());
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->column_text(0));
}

}  // namespace sekisho::storage
