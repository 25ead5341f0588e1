// Fixtures for tests that need the store: a fresh encrypted store with its audit chain.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "base/clock.hpp"
#include "base/secret.hpp"
#include "storage/audit_log.hpp"
#include "storage/hosts.hpp"
#include "storage/store.hpp"
#include "tests/support/temp_dir.hpp"

namespace sekisho::testing {

struct TestStore {
  TempDir dir;
  Secret key;
  TestClock clock{TimePoint(std::chrono::seconds(1'790'000'000))};
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<storage::AuditLog> log;

  std::filesystem::path db_path() const { return dir.path() / "sekisho.db"; }
  // Runs SQL directly on the store, as an attacker holding the key would with the sqlcipher CLI.
  void tamper(const std::string& sql);
  // Closes and reopens the store (and the log) with `key`.
  void reopen();
};

// A new store with an audit key, at dir/sekisho.db. Fails the current test on error.
std::unique_ptr<TestStore> make_test_store();

// A host row as most tests register it: `name` at 127.0.0.1:22, protocol ssh, created
// 2026-01-01T00:00:00.000Z, no pinned key. Callers change what their test is about.
storage::HostRecord test_host(const std::string& name = "web01");

// An audit event with a recognisable payload.
storage::AuditEvent test_event(int n);

}  // namespace sekisho::testing
