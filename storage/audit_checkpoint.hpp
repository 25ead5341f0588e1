// Signed audit checkpoints: the chain head signed with the gateway's Ed25519 key and appended to a
// file outside the store, so that cutting events off the end of the chain is detectable.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "storage/audit_log.hpp"

namespace sekisho::storage {

// The exact bytes signed for a checkpoint.
std::string checkpoint_message(const AuditCheckpoint& c);

// Signs the current head and appends it to `file` as one JSON line (durable on return).
// Returns nullopt without writing when the chain is empty or `last` already covers the head.
[[nodiscard]] Result<std::optional<AuditCheckpoint>> write_checkpoint(
    AuditLog& log, const SigningKey& key, const std::filesystem::path& file, const Clock& clock,
    std::int64_t last_seq = 0);

// Reads every checkpoint of `file` and checks each signature against `public_pem`. A missing file
// yields no checkpoints; a malformed line or a bad signature is an Error naming the line.
[[nodiscard]] Result<std::vector<AuditCheckpoint>> read_checkpoints(
    const std::filesystem::path& file, std::string_view public_pem);

}  // namespace sekisho::storage
