// Minimal RAII layer over the SQLCipher C API: a connection and prepared statements.
// Only storage/ includes this header; everyone else talks to Store and its repositories.
#pragma once

#include <sqlcipher/sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/c_handle.hpp"
#include "base/result.hpp"

namespace sekisho::storage {

using Sqlite = CHandle<sqlite3, sqlite3_close_v2>;

// A prepared statement. Bind indexes start at 1, column indexes at 0 (as in SQLite).
// Not thread-safe; used under the owning Store's lock.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, std::span<const std::uint8_t> blob);
  Statement& bind_null(int index);

  // Steps once: true when a row is ready, false when done; an Error on failure.
  [[nodiscard]] Result<bool> step();
  // Steps to completion, expecting no rows.
  [[nodiscard]] Result<void> run();
  void reset();

  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;
  // A view of a text column, valid until the next step(), reset() or destruction.
  std::string_view column_view(int index) const;
  std::span<const std::uint8_t> column_blob(int index) const;
  bool column_is_null(int index) const;

 private:
  sqlite3* db_;
  CHandle<sqlite3_stmt, sqlite3_finalize> stmt_;
};

// Opens `path` (read-write, creating it when `create` is true) with no key applied yet. The
// connection has no mutex of its own (SQLITE_OPEN_NOMUTEX): Store serialises every use of it.
[[nodiscard]] Result<Sqlite> open_sqlite(const std::filesystem::path& path, bool create);
// Runs one or more statements that return no rows.
[[nodiscard]] Result<void> exec(sqlite3* db, const std::string& sql);
[[nodiscard]] Result<Statement> prepare(sqlite3* db, std::string_view sql);
// The first column of the first row as text, if any.
[[nodiscard]] Result<std::optional<std::string>> query_text(sqlite3* db, std::string_view sql);

// The last error of `db` as a one-line message, prefixed with what was being done.
std::string sqlite_error(sqlite3* db, std::string_view what);

}  // namespace sekisho::storage
