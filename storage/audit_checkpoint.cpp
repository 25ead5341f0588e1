#include "storage/audit_checkpoint.hpp"

#include <nlohmann/json.hpp>
#include <sstream>

#include "base/files.hpp"

namespace sekisho::storage {

namespace {

constexpr std::size_t kMaxCheckpointFile = 256 * 1024 * 1024;

Result<Digest> digest_from_hex(const std::string& hex) {
  auto bytes = hex_decode_secret(hex);
  if (!bytes || bytes->size() != 32) return fail(ErrorCode::kCorrupt, "bad hash");
  Digest d{};
  std::copy(bytes->bytes().begin(), bytes->bytes().end(), d.begin());
  return d;
}

}  // namespace

std::string checkpoint_message(const AuditCheckpoint& c) {
  return "sekisho audit checkpoint v1\n" + std::to_string(c.seq) + "\n" +
         hex_encode(ByteView(c.hash)) + "\n" + c.time + "\n";
}

Result<std::optional<AuditCheckpoint>> write_checkpoint(AuditLog& log, const SigningKey& key,
                                                        const std::filesystem::path& file,
                                                        const Clock& clock, std::int64_t last_seq) {
  auto head = log.head();
  if (!head) return tl::make_unexpected(head.error());
  if (head->seq == 0 || head->seq <= last_seq) return std::optional<AuditCheckpoint>();
  AuditCheckpoint c{head->seq, head->hash, format_time(clock.now())};
  auto sig = key.sign(as_bytes(checkpoint_message(c)));
  if (!sig) return tl::make_unexpected(sig.error());
  const nlohmann::json line = {{"seq", c.seq},
                               {"hash", hex_encode(ByteView(c.hash))},
                               {"time", c.time},
                               {"sig", hex_encode(*sig)}};
  if (auto r = append_line_durable(file, line.dump(), 0644); !r)
    return tl::make_unexpected(r.error());
  return std::optional<AuditCheckpoint>(c);
}

Result<std::vector<AuditCheckpoint>> read_checkpoints(const std::filesystem::path& file,
                                                      std::string_view public_pem) {
  std::vector<AuditCheckpoint> out;
  auto text = read_file(file, kMaxCheckpointFile);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) return out;
    return tl::make_unexpected(text.error());
  }
  std::istringstream in(*text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = file.string() + " line " + std::to_string(number);
    if (line.empty()) continue;
    if (line.size() > 1024) return fail(ErrorCode::kCorrupt, where + ": line too long");
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("seq") || !j["seq"].is_number_integer() ||
        !j.contains("hash") || !j["hash"].is_string() || !j.contains("time") ||
        !j["time"].is_string() || !j.contains("sig") || !j["sig"].is_string()) {
      return fail(ErrorCode::kCorrupt, where + ": not a checkpoint record");
    }
    AuditCheckpoint c;
    c.seq = j["seq"].get<std::int64_t>();
    c.time = j["time"].get<std::string>();
    auto hash = digest_from_hex(j["hash"].get<std::string>());
    auto sig = hex_decode_secret(j["sig"].get<std::string>());
    if (!hash || !sig || c.seq <= 0)
      return fail(ErrorCode::kCorrupt, where + ": malformed checkpoint");
    c.hash = *hash;
    auto valid = ed25519_verify(public_pem, as_bytes(checkpoint_message(c)), sig->bytes());
    if (!valid) return tl::make_unexpected(valid.error());
    if (!*valid) {
      return fail(ErrorCode::kCorrupt, where + ": checkpoint signature does not verify");
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace sekisho::storage
