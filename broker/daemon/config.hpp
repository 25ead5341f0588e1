// The daemon's configuration: TOML file (DESIGN.md "Configuration") over embedded defaults.
#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "approval/policy.hpp"
#include "base/logging.hpp"
#include "base/result.hpp"
#include "broker/access/notifier.hpp"
#include "broker/auth/login_throttle.hpp"
#include "ldap/ldap_config.hpp"
#include "rotation/rotation_policy.hpp"

namespace sekisho::broker {

// "host:port" or "[v6]:port"; port 0 lets the kernel choose (tests).
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
  std::string text() const;
};

[[nodiscard]] Result<ListenAddress> parse_listen_address(const std::string& text);

struct AuthConfig {
  std::chrono::seconds token_ttl{8 * 3600};
  ThrottlePolicy throttle;
  std::vector<std::string> require_totp_for;  // roles that must enrol TOTP before anything else
};

// [ssh] limits on the gateway's session workers (one process per connection).
struct SshLimits {
  std::size_t max_sessions = 500;  // live workers; a connection over it is closed unserved
  std::size_t max_startups = 50;   // of those, connections not yet logged in
  // Of those, from one source address ([ssh] per_source_max_startups), so that one address
  // cannot take every slot with idle connections; logged-in sessions are not counted.
  std::size_t per_source_max_startups = 10;
  // A connection not logged in this long after accept is closed ([ssh] login_grace_time).
  std::chrono::seconds login_grace_time{30};
  // The unprivileged user workers switch to when the daemon runs as root (worker_privileges.hpp).
  std::string worker_user = "nobody";
  // How long before a request's window ends its live sessions are warned ([ssh] warn_before).
  std::chrono::seconds warn_before{300};
  // Session output that may wait for the recorder ([ssh] recording_queue_bytes); when it is full
  // the worker stops reading from the session until the recorder caught up (back-pressure).
  std::size_t recording_queue_bytes = 16 * 1024 * 1024;
};

// [recordings]: how much disk the recordings may take and how long they are kept
// (docs/recordings.md "Disk").
struct RecordingsConfig {
  // Sum of the files in the recordings directory at which new sessions are refused; 0: no cap.
  std::uint64_t max_total_bytes = 0;
  // Free space on the recordings' file system under which new sessions are refused (a session
  // is never run unrecorded); 0: no floor.
  std::uint64_t min_free_bytes = 256ull * 1024 * 1024;
  // How long an ended session's recording is kept before retention deletes it; 0: forever.
  std::chrono::seconds keep{0};
};

struct Config {
  ListenAddress api{"127.0.0.1", 8443};
  ListenAddress ssh{"0.0.0.0", 2222};
  SshLimits ssh_limits;
  ListenAddress rdp{"0.0.0.0", 3389};
  std::string directory_kind = "local";
  ldap::LdapConfig ldap;  // when directory_kind == "ldap" ([directory] and [roles])
  // [directory] recheck: how often everyone holding a token, a live session or an open request
  // is looked up again (leavers cut off, lost roles dropped).
  std::chrono::seconds directory_recheck{300};
  AuthConfig auth;
  LogFormat log_format = LogFormat::kText;
  spdlog::level::level_enum log_level = spdlog::level::info;
  // How often the audit chain head is signed into a checkpoint (and always at shutdown).
  std::chrono::seconds audit_checkpoint_interval{300};
  // Largest HTTP request body the API accepts.
  std::size_t api_max_body_bytes = 1024 * 1024;
  // Open API connections one source address may hold; more are closed at once ([api]).
  std::size_t api_max_connections_per_source = 32;
  // From accept to a finished TLS handshake, and again to the first request byte ([api]).
  std::chrono::seconds api_handshake_timeout{5};
  // [[policy]] and [break_glass]; the embedded default when the file has no [[policy]].
  approval::Policy policy = approval::default_policy();
  // [[notify.webhook]]
  std::vector<WebhookTarget> webhooks;
  RecordingsConfig recordings;
  // [rotation] and [[rotation.policy]]; no rules: every host gets the built-in default rule.
  rotation::RotationSettings rotation;
  // [rotation] sweep: how often the core recovers accounts in doubt and rotates owed and due ones.
  std::chrono::seconds rotation_sweep{30};
};

// Parses TOML text; `name` is the file name used in messages. Every error is one line naming the
// file, the key and the reason. Unknown sections and keys are errors (a typo must not silently
// weaken a policy).
[[nodiscard]] Result<Config> parse_config(const std::string& text, const std::string& name);
// Reads (at most 1 MiB) and parses a config file.
[[nodiscard]] Result<Config> load_config(const std::filesystem::path& path);

}  // namespace sekisho::broker
