#include "storage/audit_log.hpp"

#include <cstring>

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
      return fail(ErrorCode::kCorrupt,
                  "audit event " + std::to_string(head.seq) + " has a malformed hash");
    }
    std::memcpy(head.hash.data(), h.data(), h.size());
  }
  return head;
}

}  // namespace

void append_canonical_audit_event(std::string& out, std::string_view time, std::string_view actor,
                                  std::string_view action, std::string_view target,
                                  std::string_view details) {
  put_field(out, time);
  put_field(out, actor);
  put_field(out, action);
  put_field(out, target);
  put_field(out, details);
}

std::string canonical_audit_event(std::string_view time, std::string_view actor,
                                  std::string_view action, std::string_view target,
                                  std::string_view details) {
  std::string out;
  out.reserve(20 + time.size() + actor.size() + action.size() + target.size() + details.size());
  append_canonical_audit_event(out, time, actor, action, target, details);
  return out;
}

Result<void> AuditLog::init_audit_key(Store& store, const Secret& master_key) {
  auto key = hkdf_sha256(master_key, kAuditKeyInfo, 32);
  if (!key) return tl::make_unexpected(key.error());
  return store.transact(
      [&](Store::Tx& tx) { return store.put_setting(tx, "audit_key", key->bytes()); });
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(Store& store, const Clock& clock) {
  auto key = store.get_setting("audit_key");
  if (!key) return tl::make_unexpected(key.error());
  if (!key->has_value() || (*key)->size() != 32) {
    return fail(ErrorCode::kCorrupt,
                "the store has no audit chain key; it was not made by sekishod init");
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

}  // namespace sekisho::storage
