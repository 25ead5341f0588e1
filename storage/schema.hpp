// The store's schema as an ordered list of migrations; migration N takes the schema to version N.
#pragma once

#include <span>

namespace sekisho::storage {

struct Migration {
  int version;
  const char* sql;
  // The migration rebuilds a table that others reference (SQLite cannot ALTER a CHECK). It runs
  // with foreign keys off, as SQLite's documented table rebuild requires (dropping the old table
  // with them on would cascade to its children), and commits only when foreign_key_check finds
  // every reference intact.
  bool rebuilds_table = false;
};

// All migrations in ascending version order, starting at 1 without gaps.
std::span<const Migration> migrations();

}  // namespace sekisho::storage
