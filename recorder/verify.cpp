// verify(): checks a recording's structure, hash chain and signature without any secret, and
// names each problem in one line.
#include <algorithm>
#include <set>

#include "recorder/format.hpp"
#include "recorder/frame_scan.hpp"
#include "recorder/recording.hpp"

namespace sekisho::recorder {

namespace {

constexpr std::size_t kMaxProblems = 20;

struct ChainCheck {
  VerifyReport& report;
  Digest running;
  std::optional<std::uint64_t> prev_index;
  std::int64_t last_us = 0;
  std::set<std::uint64_t> seen;
  std::uint64_t count = 0;

  void problem(std::string line) {
    report.chain_ok = false;
    if (report.problems.size() < kMaxProblems) report.problems.push_back(std::move(line));
  }

  bool visit(const format::FrameHeader& f, const Digest& hash) {
    const std::string name = "chunk " + std::to_string(f.index);
    const std::uint64_t expected = prev_index ? *prev_index + 1 : 0;
    if (!seen.insert(f.index).second) {
      problem(name + " appears twice");
    } else if (f.index < expected) {
      problem("chunks reordered: " + name + " comes after chunk " + std::to_string(*prev_index));
    } else if (f.index == expected && f.prev_hash != running) {
      // The hash that failed covers the previous chunk's frame and bytes, and this frame's
      // field: one of the two was altered.
      problem(f.index == 0
                  ? "chunk 0 does not chain to the header (header or chunk 0 altered)"
                  : name + " does not chain to chunk " + std::to_string(f.index - 1) + " (chunk " +
                        std::to_string(f.index - 1) + " or " + name + " altered)");
    }
    if (f.first_us < last_us) problem(name + ": time goes backwards");
    last_us = f.last_us;
    running = hash;
    prev_index = f.index;
    ++count;
    return true;
  }

  void report_missing() {
    if (seen.empty()) return;
    std::size_t named = 0;
    for (std::uint64_t i = 0; i <= *seen.rbegin() && named < 5; ++i) {
      if (!seen.contains(i)) {
        problem("chunk " + std::to_string(i) + " is missing (dropped)");
        ++named;
      }
    }
  }
};

void check_signature(VerifyReport& report, const format::FileHeader& fh, const Digest& start,
                     const format::Closing& c, const std::optional<std::string>& pinned) {
  const Bytes msg = format::closing_message(start, c);
  const std::string& embedded = fh.signer_public_pem;
  if (pinned) {
    report.key_pinned = true;
    auto good = ed25519_verify(*pinned, msg, c.signature);
    if (good && *good) {
      report.signature = SignatureStatus::kValid;
      report.signer = format::key_fingerprint(*pinned);
      return;
    }
    auto by_embedded = ed25519_verify(embedded, msg, c.signature);
    if (by_embedded && *by_embedded &&
        format::key_fingerprint(embedded) != format::key_fingerprint(*pinned)) {
      report.signature = SignatureStatus::kWrongKey;
      report.signer = format::key_fingerprint(embedded);
      report.problems.push_back("signed by key " + report.signer + ", not by the expected key " +
                                format::key_fingerprint(*pinned));
      return;
    }
  } else {
    auto good = ed25519_verify(embedded, msg, c.signature);
    if (good && *good) {
      report.signature = SignatureStatus::kValid;
      report.signer = format::key_fingerprint(embedded);
      return;
    }
  }
  report.signature = SignatureStatus::kInvalid;
  report.problems.push_back("closing signature does not verify");
}

}  // namespace

Result<VerifyReport> verify(const std::filesystem::path& path,
                            std::optional<std::string> public_key_pem) {
  if (public_key_pem) {
    // A pinned key that cannot be read is the caller's mistake, not a finding about the file.
    if (auto probe = ed25519_verify(*public_key_pem, {}, {}); !probe) {
      return fail(ErrorCode::kInvalidArgument, "the given public key: " + probe.error().message);
    }
  }
  auto file = open_recording(path);
  if (!file) return tl::make_unexpected(file.error());
  const OpenedFile& f = **file;
  VerifyReport report;
  report.header = f.header.header;
  report.size_bytes = f.size;
  report.chain_ok = true;
  ChainCheck chain{report, f.start_hash, std::nullopt, 0, {}, 0};
  auto end =
      scan_frames(f, true,
                  [&](const format::FrameHeader& frame, std::uint64_t,
                      const std::optional<Digest>& hash) { return chain.visit(frame, *hash); });
  if (!end) return tl::make_unexpected(end.error());
  chain.report_missing();
  report.chunks = chain.count;
  report.duration_us = chain.last_us;
  report.final_hash = format::hex(chain.running);
  report.chain_end_offset = end->offset;
  const std::string after = std::to_string(chain.count);
  switch (end->kind) {
    case ScanEnd::Kind::kCleanEnd:
      report.truncated_after = chain.count;
      report.problems.push_back("file ends after " + after +
                                " chunks without a closing record (cut, or the writer stopped)");
      break;
    case ScanEnd::Kind::kPartial:
      report.truncated_after = chain.count;
      report.problems.push_back("file is cut: " + after +
                                " complete chunks, then part of a record (truncated after chunk " +
                                after + ")");
      break;
    case ScanEnd::Kind::kUnreadable:
      chain.problem("offset " + std::to_string(end->offset) + ": " + end->message);
      break;
    case ScanEnd::Kind::kClosing: {
      const format::Closing& c = *end->closing;
      if (c.chunks != chain.count) {
        chain.problem("closing record names " + std::to_string(c.chunks) +
                      " chunks, the file has " + after + " (chunks dropped or added)");
      }
      if (c.final_hash != chain.running) {
        chain.problem("closing record does not match the last chunk (chunk " +
                      std::to_string(chain.count == 0 ? 0 : chain.count - 1) + " altered)");
      }
      if (c.size_bytes != end->offset) chain.problem("closing record names the wrong size");
      if (c.end_us < chain.last_us) chain.problem("closing record ends before the last chunk");
      // The core seals what it read: the time of the last record is the last chunk's, exactly.
      if (c.seal && c.end_us != chain.last_us) {
        chain.problem("seal names another time of the last record than the last chunk's");
      }
      report.seal = c.seal;
      report.duration_us = c.end_us;
      report.final_hash = format::hex(c.final_hash);
      check_signature(report, f.header, f.start_hash, c, public_key_pem);
      break;
    }
  }
  return report;
}

Result<void> check_closing_message(const std::filesystem::path& path, ByteView message) {
  auto claimed = format::decode_closing_message(message);
  if (!claimed) return fail(ErrorCode::kPermissionDenied, claimed.error().message);
  auto file = open_recording(path);
  if (!file) return tl::make_unexpected(file.error());
  const OpenedFile& f = **file;
  VerifyReport report;
  report.chain_ok = true;
  ChainCheck chain{report, f.start_hash, std::nullopt, 0, {}, 0};
  auto end =
      scan_frames(f, true,
                  [&](const format::FrameHeader& frame, std::uint64_t,
                      const std::optional<Digest>& hash) { return chain.visit(frame, *hash); });
  if (!end) return tl::make_unexpected(end.error());
  chain.report_missing();
  if (!report.problems.empty()) {
    return fail(ErrorCode::kPermissionDenied,
                "the recording does not verify: " + report.problems.front());
  }
  if (end->kind != ScanEnd::Kind::kCleanEnd) {
    return fail(ErrorCode::kPermissionDenied,
                "the recording does not end after a whole chunk (closed already, or cut)");
  }
  format::Closing expected;
  expected.chunks = chain.count;
  expected.records = claimed->second.records;
  expected.end_us = chain.last_us;
  expected.size_bytes = end->offset;
  expected.final_hash = chain.running;
  const Bytes rebuilt = format::closing_message(f.start_hash, expected);
  if (!std::equal(rebuilt.begin(), rebuilt.end(), message.begin(), message.end())) {
    return fail(ErrorCode::kPermissionDenied, "the message is not the recording's chain end");
  }
  return ok();
}

}  // namespace sekisho::recorder
