// AuditLog::verify: walks the chain with two threads. The calling thread reads rows from SQLCipher
// (page decryption is most of the cost) into batches; a second thread checks them in order (HMAC,
// links, checkpoints). Each row carries its own prev_hash, so checking needs nothing but the row
// and the previous row's hash.
#include <condition_variable>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>

#include "storage/audit_log.hpp"

namespace sekisho::storage {

namespace {

constexpr std::size_t kBatchRows = 8192;
constexpr std::size_t kMaxQueuedBatches = 4;

struct VerifyRow {
  std::int64_t seq = 0;
  bool malformed = false;  // a hash column of the wrong size
  Digest prev{};
  Digest hash{};
  std::size_t offset = 0;  // canonical bytes in the batch arena
  std::size_t length = 0;
};

struct VerifyBatch {
  std::vector<VerifyRow> rows;
  std::string arena;
};

// A bounded FIFO of batches from the reader to the checker; `close()` marks the end. Checked
// batches come back through `recycle()` so that their buffers are reused: fresh megabyte-sized
// buffers for every batch would cost a page fault per 4 KiB.
class BatchQueue {
 public:
  // Blocks while full; returns false when the consumer has given up.
  bool push(VerifyBatch batch) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return full_.size() < kMaxQueuedBatches || abandoned_; });
    if (abandoned_) return false;
    full_.push_back(std::move(batch));
    cv_.notify_all();
    return true;
  }
  // Blocks until a batch or the end; returns false at the end.
  bool pop(VerifyBatch& out) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !full_.empty() || closed_; });
    if (full_.empty()) return false;
    out = std::move(full_.front());
    full_.pop_front();
    cv_.notify_all();
    return true;
  }
  // An empty batch, reusing a checked one's buffers when there is one.
  VerifyBatch take_empty() {
    std::lock_guard lock(mu_);
    if (free_.empty()) {
      VerifyBatch fresh;
      fresh.rows.reserve(kBatchRows);
      fresh.arena.reserve(kBatchRows * 256);
      return fresh;
    }
    VerifyBatch reused = std::move(free_.back());
    free_.pop_back();
    reused.rows.clear();
    reused.arena.clear();
    return reused;
  }
  void recycle(VerifyBatch batch) {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(batch));
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  void abandon() {
    std::lock_guard lock(mu_);
    abandoned_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<VerifyBatch> full_;
  std::vector<VerifyBatch> free_;
  bool closed_ = false;
  bool abandoned_ = false;
};

// The sequential rules: contiguous seq, each hash the HMAC of its row, each row linked to the one
// before, and signed checkpoints matching. Stops at the first problem.
class ChainChecker {
 public:
  ChainChecker(HmacSha256& mac, std::span<const AuditCheckpoint> checkpoints) : mac_(mac) {
    for (const AuditCheckpoint& c : checkpoints) wanted_[c.seq] = &c;
  }

  // Returns false once a problem was found.
  bool check(const VerifyRow& row, std::string_view canonical) {
    ++report_.events;
    const auto n = [&] { return std::to_string(row.seq); };  // only on the failure paths
    if (row.seq != expected_) {
      return bad(expected_, row.seq > expected_
                                ? "audit events " + std::to_string(expected_) + ".." +
                                      std::to_string(row.seq - 1) + " are missing (deleted)"
                                : "audit event " + n() + " is out of order");
    }
    if (row.malformed)
      return bad(row.seq, "audit event " + n() + " has a malformed hash (altered)");
    const Digest mac = mac_.mac({ByteView(row.prev), as_bytes(canonical)});
    if (mac != row.hash)
      return bad(row.seq, "audit event " + n() + " was altered (its hash does not match)");
    if (row.prev != last_) {
      return bad(row.seq, "audit event " + n() + " does not follow event " +
                              std::to_string(row.seq - 1) + " (inserted, deleted or reordered)");
    }
    if (auto it = wanted_.find(row.seq); it != wanted_.end()) {
      if (it->second->hash != row.hash) {
        return bad(row.seq, "audit event " + n() + " differs from the checkpoint signed " +
                                it->second->time + " (chain rewritten)");
      }
      ++report_.checkpoints_matched;
    }
    last_ = row.hash;
    ++expected_;
    return true;
  }

  // After the last row: a checkpoint beyond the end means the tail was cut off.
  AuditVerifyReport finish(std::span<const AuditCheckpoint> checkpoints) {
    for (const AuditCheckpoint& c : checkpoints) {
      if (!report_.ok) break;
      if (c.seq >= expected_) {
        bad(expected_, "audit log truncated: the checkpoint signed " + c.time + " covers event " +
                           std::to_string(c.seq) + " but the log ends at event " +
                           std::to_string(expected_ - 1));
      }
    }
    return report_;
  }

 private:
  bool bad(std::int64_t seq, std::string problem) {
    report_.ok = false;
    report_.first_bad_seq = seq;
    report_.problem = std::move(problem);
    return false;
  }

  HmacSha256& mac_;
  std::unordered_map<std::int64_t, const AuditCheckpoint*> wanted_;
  AuditVerifyReport report_;
  Digest last_{};
  std::int64_t expected_ = 1;
};

void copy_digest(std::span<const std::uint8_t> from, Digest& to, bool& malformed) {
  if (from.size() != to.size()) {
    malformed = true;
    return;
  }
  std::memcpy(to.data(), from.data(), to.size());
}

}  // namespace

Result<AuditVerifyReport> AuditLog::verify(std::span<const AuditCheckpoint> checkpoints) {
  std::lock_guard mac_lock(mac_mu_);
  ChainChecker checker(mac_, checkpoints);
  BatchQueue queue;
  bool stopped_early = false;
  std::thread checking([&] {
    VerifyBatch batch;
    while (queue.pop(batch)) {
      for (const VerifyRow& row : batch.rows) {
        if (!checker.check(row, std::string_view(batch.arena).substr(row.offset, row.length))) {
          stopped_early = true;
          queue.abandon();
          return;
        }
      }
      queue.recycle(std::move(batch));
    }
  });

  auto read = store_.read([&](Store::Tx& tx) -> Result<void> {
    auto stmt = tx.prepare(
        "SELECT seq, time, actor, action, target, details, prev_hash, hash FROM audit_events "
        "ORDER BY seq");
    if (!stmt) return tl::make_unexpected(stmt.error());
    VerifyBatch batch = queue.take_empty();
    for (;;) {
      auto more = stmt->step();
      if (!more) return tl::make_unexpected(more.error());
      if (*more) {
        VerifyRow row{.seq = stmt->column_int(0), .offset = batch.arena.size()};
        copy_digest(stmt->column_blob(6), row.prev, row.malformed);
        copy_digest(stmt->column_blob(7), row.hash, row.malformed);
        append_canonical_audit_event(batch.arena, stmt->column_view(1), stmt->column_view(2),
                                     stmt->column_view(3), stmt->column_view(4),
                                     stmt->column_view(5));
        row.length = batch.arena.size() - row.offset;
        batch.rows.push_back(row);
      }
      if ((!*more && !batch.rows.empty()) || batch.rows.size() == kBatchRows) {
        if (!queue.push(std::move(batch))) return ok();  // the checker found a problem
        batch = queue.take_empty();
      }
      if (!*more) return ok();
    }
  });
  queue.close();
  checking.join();
  if (!read) return tl::make_unexpected(read.error());
  AuditVerifyReport report =
      checker.finish(stopped_early ? std::span<const AuditCheckpoint>() : checkpoints);
  return report;
}

}  // namespace sekisho::storage
