// A temporary directory for tests. Needs nothing of Sekisho, so that the tests of the pure
// modules (recorder, privsep, worker) use it without linking the store.
#pragma once

#include <filesystem>

namespace sekisho::testing {

// A directory under $TMPDIR removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace sekisho::testing
