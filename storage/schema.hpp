// The store's schema as an ordered list of migrations; migration N takes the schema to version N.
#pragma once

#include <span>

namespace sekisho::storage {

struct Migration {
  int version;
  const char* sql;
};

// All migrations in ascending version order, starting at 1 without gaps.
std::span<const Migration> migrations();

}  // namespace sekisho::storage
