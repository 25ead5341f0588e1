// AuditLog: every decision and action as one event in a keyed hash chain inside the store.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/result.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

// What happened: who (actor), what (action, e.g. "gateway.start"), to what (target), and
// structured details. The log adds the time and the chain.
struct AuditEvent {
  std::string actor;
  std::string action;
  std::string target;
  nlohmann::json details = nlohmann::json::object();
};

// The newest event of the chain; seq 0 and an all-zero hash for an empty chain.
struct AuditHead {
  std::int64_t seq = 0;
  Digest hash{};
};

// A signed statement that the chain had `hash` at `seq` at `time` (see audit_checkpoint.hpp).
struct AuditCheckpoint {
  std::int64_t seq = 0;
  Digest hash{};
  std::string time;
};

struct AuditVerifyReport {
  bool ok = true;
  std::int64_t events = 0;               // events walked
  std::int64_t checkpoints_matched = 0;  // signed checkpoints that the chain agrees with
  std::int64_t first_bad_seq = 0;        // 0 when ok
  std::string problem;                   // one line when !ok
};

// The key-derivation label of the audit chain key (HKDF-SHA256 over the master key).
inline constexpr char kAuditKeyInfo[] = "sekisho audit chain v1";

class AuditLog {
 public:
  // Opens the chain of `store`. The chain key is derived from the master key when the store is
  // initialised (init_audit_key) and kept inside the encrypted store, so that a master key rotation
  // does not invalidate the chain.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open(Store& store, const Clock& clock);
  // Derives and stores the chain key; called once by init on a new store.
  [[nodiscard]] static Result<void> init_audit_key(Store& store, const Secret& master_key);

  // Appends one event in its own transaction; returns its seq once the event is durable.
  // Any thread may call it.
  [[nodiscard]] Result<std::int64_t> append(const AuditEvent& event);
  // Appends inside the caller's transaction: the event commits (or not) with the caller's change.
  [[nodiscard]] Result<std::int64_t> append(Store::Tx& tx, const AuditEvent& event);
  // Appends all events in one transaction; returns the seq of the last one.
  [[nodiscard]] Result<std::int64_t> append_batch(std::span<const AuditEvent> events);

  [[nodiscard]] Result<AuditHead> head();

  // Walks the whole chain in order and reports the first event that was altered, deleted, inserted
  // or reordered; then checks that each checkpoint's event is present with the signed hash, which
  // is what detects a truncated tail. Checkpoints must already be signature-checked.
  [[nodiscard]] Result<AuditVerifyReport> verify(std::span<const AuditCheckpoint> checkpoints);

 private:
  AuditLog(Store& store, const Clock& clock, HmacSha256 mac)
      : store_(store), clock_(clock), mac_(std::move(mac)) {}

  Store& store_;
  const Clock& clock_;
  std::mutex mac_mu_;
  HmacSha256 mac_;
};

// The bytes HMACed for one event: each field as a 4-byte big-endian length and its bytes, in
// the order time, actor, action, target, details. Exposed for tests and offline tools.
std::string canonical_audit_event(std::string_view time, std::string_view actor,
                                  std::string_view action, std::string_view target,
                                  std::string_view details);
// The same, appended to `out` (for loops that reuse one buffer).
void append_canonical_audit_event(std::string& out, std::string_view time, std::string_view actor,
                                  std::string_view action, std::string_view target,
                                  std::string_view details);

}  // namespace sekisho::storage
