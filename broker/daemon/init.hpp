// `sekishod init`: creates a new data directory with everything the gateway needs.
#pragma once

#include <filesystem>
#include <string>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho::broker {

struct InitResult {
  std::filesystem::path data_dir;
  std::string operator_name;
  Secret one_time_password;  // shown once; the operator must change it at first login
  std::string ssh_host_key_fingerprint;
  std::string tls_fingerprint;
};

// Builds the data directory in a temporary sibling (master key, encrypted store with its audit
// chain, signing key, SSH host key, TLS identity, first operator) and renames it into place, so a
// crash never leaves a half-made data dir at `dir`. Refuses when `dir` exists and is not empty.
[[nodiscard]] Result<InitResult> init_data_dir(const std::filesystem::path& dir,
                                               const std::string& operator_name,
                                               const Clock& clock);

}  // namespace sekisho::broker
