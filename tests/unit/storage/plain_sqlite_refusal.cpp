// Built from the storage sources but linked against plain SQLite (libsqlite3) instead of SQLCipher,
// as a mis-linked sekishod would be. The store must refuse to work rather than write plaintext.
#include <cstdio>
#include <filesystem>
#include <string>

#include "base/crypto.hpp"
#include "storage/store.hpp"

int main() {
  using namespace sekisho;
  std::string tmpl = (std::filesystem::temp_directory_path() / "sekisho-plain-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  const std::filesystem::path db = std::filesystem::path(tmpl) / "sekisho.db";
  auto store = storage::Store::create(db, random_secret(32));
  const bool refused = !store && store.error().message.find("plain SQLite") != std::string::npos;
  const bool wrote_plaintext = std::filesystem::exists(db) && std::filesystem::file_size(db) > 0;
  std::filesystem::remove_all(tmpl);
  if (!refused) {
    std::fprintf(stderr, "FAIL: a store was %s with plain SQLite\n",
                 store ? "created" : "refused for another reason");
    return 1;
  }
  if (wrote_plaintext) {
    std::fprintf(stderr, "FAIL: plain SQLite wrote pages before the refusal\n");
    return 1;
  }
  std::printf("ok: %s\n", store.error().message.c_str());
  return 0;
}
