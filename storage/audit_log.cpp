#include "storage/audit_log.hpp"

#include <cstring>
#include <unordered_map>

namespace sekisho::storage {

namespace {

constexpr std::size_t kMaxFieldBytes = 64 * 1024;

void put_field(std::string& out, std::string_view field) {
  const auto n = static_cast<std::uint32_t>(field.size());
  const char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)};
  out.append(len, 4);
  out.append(field);
}

Result<void> check_event(const AuditEvent& e) {
  if (e.action.empty()) return fail(ErrorCode::kInvalidArgument, "audit event without an action");
  if (e.actor.size() > kMaxFieldBytes || e.action.size() > kMaxFieldBytes ||
      e.target.size() > kMaxFieldBytes) {
    return fail(ErrorCode::kInvalidArgument, "audit event field larger than 64 KiB");
  }
  return ok();
}

Result<AuditHead> read_head(Store::Tx& tx) {
  auto stmt = tx.prepare("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
  if (!stmt) return tl::make_unexpected(stmt.error());
  auto row = stmt->step();
  if (!row) return tl::make_unexpected(row.error());
  AuditHead head;
  if (*row) {
    head.seq = stmt->column_int(0);
    const auto h = stmt->column_blob(1);
    if (h.size() != head.hash.size()) {
      return fail(ErrorCode::kCorrupt, "audit event " + std::to_string(head.seq) + " has a malformed hash");
    }
    std::memcpy(head.hash.data(), h.data(), h.size());
  }
  return head;
}

}  // namespace

std::string canonical_audit_event(std::string_view time, std::string_view actor,
                                  std::string_view action, std::string_view target,
                                  std::string_view details) {
  std::string out;
  out.reserve(20 + time.size() + actor.size() + action.size() + target.size() + details.size());
  put_field(out, time);
  put_field(out, actor);
  put_field(out, action);
  put_field(out, target);
  put_field(out, details);
  return out;
}

Result<void> AuditLog::init_audit_key(Store& store, const Secret& master_key) {
  auto key = hkdf_sha256(master_key, kAuditKeyInfo, 32);
  if (!key) return tl::make_unexpected(key.error());
  return store.transact([&](Store::Tx& tx) { return store.put_setting(tx, "audit_key", key->bytes()); });
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(Store& store, const Clock& clock) {
  auto key = store.get_setting("audit_key");
  if (!key) return tl::make_unexpected(key.error());
  if (!key->has_value() || (*key)->size() != 32) {
    return fail(ErrorCode::kCorrupt, "the store has no audit chain key; it was not made by sekishod init");
  }
  auto mac = HmacSha256::create(**key);
  if (!mac) return tl::make_unexpected(mac.error());
  return std::unique_ptr<AuditLog>(new AuditLog(store, clock, std::move(*mac)));
}

Result<std::int64_t> AuditLog::append(const AuditEvent& event) {
  std::int64_t seq = 0;
  auto r = store_.transact([&](Store::Tx& tx) -> Result<void> {
    auto s = append(tx, event);
    if (!s) return tl::make_unexpected(s.error());
    seq = *s;
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return seq;
}

Result<std::int64_t> AuditLog::append_batch(std::span<const AuditEvent> events) {
  std::int64_t seq = 0;
  auto r = store_.transact([&](Store::Tx& tx) -> Result<void> {
    for (const AuditEvent& e : events) {
      auto s = append(tx, e);
      if (!s) return tl::make_unexpected(s.error());
      seq = *s;
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return seq;
}

Result<std::int64_t> AuditLog::append(Store::Tx& tx, const AuditEvent& event) {
  if (auto r = check_event(event); !r) return tl::make_unexpected(r.error());
  auto head = read_head(tx);
  if (!head) return tl::make_unexpected(head.error());
  const std::string time = format_time(clock_.now());
  const std::string details =
      event.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (details.size() > kMaxFieldBytes) {
    return fail(ErrorCode::kInvalidArgument, "audit event details larger than 64 KiB");
  }
  const std::string canonical =
      canonical_audit_event(time, event.actor, event.action, event.target, details);
  Digest hash;
  {
    std::lock_guard lock(mac_mu_);
    hash = mac_.mac({ByteView(head->hash), as_bytes(canonical)});
  }
  auto stmt = tx.prepare(
      "INSERT INTO audit_events (seq, time, actor, action, target, details, prev_hash, hash) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return tl::make_unexpected(stmt.error());
  const std::int64_t seq = head->seq + 1;
  stmt->bind(1, seq)
      .bind(2, time)
      .bind(3, event.actor)
      .bind(4, event.action)
      .bind(5, event.target)
      .bind(6, details)
      .bind_blob(7, head->hash)
      .bind_blob(8, hash);
  if (auto r = stmt->run(); !r) return tl::make_unexpected(r.error());
  return seq;
}

Result<AuditHead> AuditLog::head() {
  AuditHead h;
  auto r = store_.read([&](Store::Tx& tx) -> Result<void> {
    auto got = read_head(tx);
    if (!got) return tl::make_unexpected(got.error());
    h = *got;
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return h;
}

Result<AuditVerifyReport> AuditLog::verify(std::span<const AuditCheckpoint> checkpoints) {
  AuditVerifyReport report;
  std::unordered_map<std::int64_t, const AuditCheckpoint*> wanted;
  for (const AuditCheckpoint& c : checkpoints) wanted[c.seq] = &c;

  auto bad = [&](std::int64_t seq, std::string problem) {
    if (!report.ok) return;
    report.ok = false;
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
  };

  auto r = store_.read([&](Store::Tx& tx) -> Result<void> {
    auto stmt = tx.prepare(
        "SELECT seq, time, actor, action, target, details, prev_hash, hash FROM audit_events "
        "ORDER BY seq");
    if (!stmt) return tl::make_unexpected(stmt.error());
    Digest last{};
    std::int64_t expected = 1;
    std::string canonical;
    std::lock_guard lock(mac_mu_);
    for (;;) {
      auto row = stmt->step();
      if (!row) return tl::make_unexpected(row.error());
      if (!*row) break;
      const std::int64_t seq = stmt->column_int(0);
      const auto prev = stmt->column_blob(6);
      const auto hash = stmt->column_blob(7);
      ++report.events;
      if (seq != expected) {
        bad(expected, seq > expected
                          ? "audit events " + std::to_string(expected) + ".." +
                                std::to_string(seq - 1) + " are missing (deleted)"
                          : "audit event " + std::to_string(seq) + " is out of order");
        break;
      }
      if (prev.size() != last.size() || hash.size() != last.size()) {
        bad(seq, "audit event " + std::to_string(seq) + " has a malformed hash (altered)");
        break;
      }
      canonical = canonical_audit_event(
          stmt->column_text(1), stmt->column_text(2), stmt->column_text(3), stmt->column_text(4),
          stmt->column_text(5));
      const Digest mac = mac_.mac({prev, as_bytes(canonical)});
      if (std::memcmp(mac.data(), hash.data(), mac.size()) != 0) {
        bad(seq, "audit event " + std::to_string(seq) + " was altered (its hash does not match)");
        break;
      }
      if (std::memcmp(prev.data(), last.data(), last.size()) != 0) {
        bad(seq, "audit event " + std::to_string(seq) + " does not follow event " +
                     std::to_string(seq - 1) + " (inserted, deleted or reordered)");
        break;
      }
      if (auto it = wanted.find(seq); it != wanted.end()) {
        if (std::memcmp(it->second->hash.data(), hash.data(), mac.size()) != 0) {
          bad(seq, "audit event " + std::to_string(seq) + " differs from the checkpoint signed " +
                       it->second->time + " (chain rewritten)");
          break;
        }
        ++report.checkpoints_matched;
      }
      std::memcpy(last.data(), hash.data(), last.size());
      ++expected;
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  if (report.ok) {
    for (const AuditCheckpoint& c : checkpoints) {
      if (c.seq >= report.events + 1) {
        bad(report.events + 1, "audit log truncated: the checkpoint signed " + c.time +
                                   " covers event " + std::to_string(c.seq) +
                                   " but the log ends at event " + std::to_string(report.events));
        break;
      }
    }
  }
  return report;
}

}  // namespace sekisho::storage
