// verify: checks a .skr recording offline (structure, chunk hash chain, closing signature), so that
// a recording handed to an outside auditor can be checked without the gateway.
#include <iostream>

#include "base/clock.hpp"
#include "base/files.hpp"
#include "cli/cli_home.hpp"
#include "cli/commands.hpp"
#include "cli/replay_timing.hpp"
#include "cli/table.hpp"
#include "recorder/format.hpp"
#include "recorder/recording.hpp"

namespace sekisho::cli {

namespace {

using recorder::SignatureStatus;

constexpr std::size_t kMaxPublicKeyFile = 16 * 1024;

// Who vouches for the signer: the key given with --public-key, a gateway's key pinned at login,
// or nobody (the file names its own key, which proves integrity, not authorship).
struct Trust {
  bool trusted = false;
  std::string source;  // "--public-key" or "the key pinned at login for URL"
};

std::string signature_text(const recorder::VerifyReport& r, const Trust& trust) {
  switch (r.signature) {
    case SignatureStatus::kValid:
      return trust.trusted ? "valid, by the pinned key (" + trust.source + ")"
                           : "valid, by the key named in the file, which is not pinned: no "
                             "--public-key, and no gateway key pinned at login matches it (this "
                             "proves the file is intact, not who signed it)";
    case SignatureStatus::kInvalid:
      return "INVALID";
    case SignatureStatus::kMissing:
      return "MISSING (the recording has no closing record)";
    case SignatureStatus::kWrongKey:
      return "WRONG KEY (signed by another key than --public-key)";
  }
  return "unknown";
}

const char* signature_name(SignatureStatus s) {
  switch (s) {
    case SignatureStatus::kValid:
      return "valid";
    case SignatureStatus::kInvalid:
      return "invalid";
    case SignatureStatus::kMissing:
      return "missing";
    case SignatureStatus::kWrongKey:
      return "wrong_key";
  }
  return "unknown";
}

std::string start_time(std::int64_t unix_us) {
  return format_time(TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(unix_us))));
}

// What a seal says, in words: why the session was cut and when its last record was made. Only
// said of a file that verified: then it is exactly what the gateway recorded, up to the cut.
std::string seal_text(const recorder::VerifyReport& r) {
  const auto& seal = *r.seal;
  std::string text = seal.reason == recorder::SealReason::kWorkerDied
                         ? "session cut because its worker died at "
                         : "session cut by a gateway stop at ";
  text += start_time(r.header.start_unix_us + r.duration_us);
  text += "; the file is exactly what the gateway recorded (sealed by the gateway at " +
          start_time(seal.sealed_at_unix_us);
  if (seal.cut_bytes > 0)
    text += ", after cutting a torn write of " + std::to_string(seal.cut_bytes) + " bytes";
  return text + ")";
}

nlohmann::json seal_json(const recorder::VerifyReport& r) {
  if (!r.seal) return nullptr;
  return {{"reason", recorder::format::seal_reason_text(r.seal->reason)},
          {"last_record_at", start_time(r.header.start_unix_us + r.duration_us)},
          {"sealed_at", start_time(r.seal->sealed_at_unix_us)},
          {"cut_bytes", r.seal->cut_bytes}};
}

nlohmann::json report_json(const std::string& file, const recorder::VerifyReport& r,
                           const Trust& trust) {
  const auto& h = r.header;
  return {{"file", file},
          {"ok", r.ok() && trust.trusted},
          {"chain_ok", r.chain_ok},
          {"chunks", r.chunks},
          {"truncated_after", r.truncated_after ? nlohmann::json(*r.truncated_after) : nullptr},
          {"signature", signature_name(r.signature)},
          {"key_pinned", trust.trusted},
          {"trusted_by", trust.trusted ? trust.source : ""},
          {"signer", r.signer.empty() ? "-" : r.signer},
          {"duration_us", r.duration_us},
          {"size_bytes", r.size_bytes},
          {"final_hash", r.final_hash},
          {"problems", r.problems},
          {"seal", seal_json(r)},
          {"note", r.seal && r.ok() && trust.trusted ? seal_text(r) : ""},
          {"header",
           {{"session", h.session_id},
            {"user", h.user},
            {"account", h.account},
            {"host", h.host},
            {"request_id", h.request_id},
            {"protocol", h.protocol},
            {"started_at", start_time(h.start_unix_us)},
            {"cols", h.cols},
            {"rows", h.rows}}}};
}

void print_report(const std::string& file, const recorder::VerifyReport& r, const Trust& trust) {
  const auto& h = r.header;
  std::vector<std::vector<std::string>> rows = {
      {"result", r.ok() && trust.trusted ? "OK" : "FAILED"},
      {"chain", std::string(r.chain_ok ? "intact" : "BROKEN") + " (" + std::to_string(r.chunks) +
                    " chunks)"},
      {"signature", signature_text(r, trust)},
      {"signer", r.signer.empty() ? "-" : r.signer},
      {"session", h.session_id},
      {"user", h.user},
      {"target", h.account + "@" + h.host},
      {"protocol", h.protocol},
      {"request", h.request_id.empty() ? "-" : h.request_id},
      {"started", start_time(h.start_unix_us)},
      {"terminal", std::to_string(h.cols) + "x" + std::to_string(h.rows)},
      {"duration", format_offset(r.duration_us)},
      {"size", std::to_string(r.size_bytes) + " bytes"},
      {"final hash", r.final_hash}};
  if (r.truncated_after) {
    rows.push_back({"truncated", "after chunk " + std::to_string(*r.truncated_after)});
  }
  if (r.seal) {
    rows.push_back({"sealed", recorder::format::seal_reason_text(r.seal->reason) + ", by the " +
                                  "gateway at " + start_time(r.seal->sealed_at_unix_us)});
  }
  for (const auto& p : r.problems) rows.push_back({"problem", p});
  std::cout << format_table({"recording", file}, rows);
  if (r.seal && r.ok() && trust.trusted) std::cout << seal_text(r) << "\n";
}

// Without --public-key: the signer is trusted when it is a gateway signing key pinned at login in
// this SEKISHO_HOME (any gateway's: an auditor may hold several). A home that cannot be read trusts
// nothing, and says so.
Result<Trust> trust_by_pins(const recorder::VerifyReport& r) {
  if (r.signature != SignatureStatus::kValid) return Trust{};
  auto home = CliHome::locate();
  if (!home) return Trust{};
  auto keys = home->pinned_signing_keys();
  if (!keys) return tl::make_unexpected(keys.error());
  for (const auto& key : *keys) {
    if (recorder::format::key_fingerprint(key.public_pem) == r.signer) {
      return Trust{true, "the key pinned at login for " + key.server};
    }
  }
  return Trust{};
}

}  // namespace

Result<void> run_verify(const GlobalOptions& global, const VerifyOptions& options) {
  std::optional<std::string> pem;
  if (options.public_key) {
    auto text = read_file(*options.public_key, kMaxPublicKeyFile);
    if (!text) return fail(text.error().code, "--public-key: " + text.error().message);
    pem = std::move(*text);
  }
  auto report = recorder::verify(options.file, pem);
  if (!report) return fail(report.error().code, options.file + ": " + report.error().message);
  Trust trust{report->key_pinned && report->signature == SignatureStatus::kValid, "--public-key"};
  if (!pem) {
    auto pinned = trust_by_pins(*report);
    if (!pinned) return fail(pinned.error().code, "pinned keys: " + pinned.error().message);
    trust = *pinned;
  }
  if (global.json) {
    print_json(report_json(options.file, *report, trust));
  } else {
    print_report(options.file, *report, trust);
  }
  if (report->ok() && trust.trusted) return ok();
  std::string why;
  if (report->ok()) {
    why = "the chain is intact but the signer " + report->signer +
          " is unknown (pass --public-key FILE, or log in to its gateway once to pin its key)";
  } else if (!report->problems.empty()) {
    why = report->problems.front();
  } else if (!report->chain_ok) {
    why = "hash chain broken";
  } else {
    why = "signature " + std::string(signature_name(report->signature));
  }
  return fail(ErrorCode::kCorrupt, options.file + " does NOT verify: " + why);
}

}  // namespace sekisho::cli
