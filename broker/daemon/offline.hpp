// sekishod commands that work on a data dir without a running gateway: audit verify, rekey.
#pragma once

#include <filesystem>
#include <optional>

#include "base/result.hpp"
#include "storage/audit_log.hpp"

namespace sekisho::broker {

// Verifies the audit chain of `data_dir` and its signed checkpoints. The checkpoints are checked
// with `public_key` (PEM) when given — an auditor should pass a copy kept outside the data dir —
// otherwise with the data dir's signing.pub. Safe while the gateway runs (read-only use).
[[nodiscard]] Result<storage::AuditVerifyReport> verify_audit(
    const std::filesystem::path& data_dir, const std::optional<std::filesystem::path>& public_key);

// Rotates the master key of a data dir that no gateway is using, and records it in the audit log.
[[nodiscard]] Result<void> rekey(const std::filesystem::path& data_dir);

}  // namespace sekisho::broker
