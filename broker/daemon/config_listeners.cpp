// [api] and [ssh] of the daemon's configuration: where the listeners bind and the limits on what
// one client may hold (API connections, SSH session workers).
#include <chrono>
#include <set>
#include <string>
#include <utility>

#include "base/clock.hpp"
#include "broker/daemon/config_reader.hpp"

namespace sekisho::broker::config_detail {

Result<void> read_api(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("api")) return ok();
  const auto& t = root.as_table().at("api");
  if (auto r = rd.only_keys(
          t, "api",
          {"listen", "max_body_bytes", "max_connections_per_source", "handshake_timeout"});
      !r) {
    return r;
  }
  if (auto r = rd.listen_key(t, "api", config.api); !r) return r;
  if (t.contains("max_body_bytes")) {
    const auto& v = t.as_table().at("max_body_bytes");
    if (!v.is_integer() || v.as_integer() < 1024 || v.as_integer() > 64 * 1024 * 1024) {
      return tl::make_unexpected(
          rd.error("api.max_body_bytes", "must be an integer from 1024 to 67108864"));
    }
    config.api_max_body_bytes = static_cast<std::size_t>(v.as_integer());
  }
  if (t.contains("max_connections_per_source")) {
    const auto& v = t.as_table().at("max_connections_per_source");
    if (!v.is_integer() || v.as_integer() < 1 || v.as_integer() > 10000) {
      return tl::make_unexpected(
          rd.error("api.max_connections_per_source", "must be an integer from 1 to 10000"));
    }
    config.api_max_connections_per_source = static_cast<std::size_t>(v.as_integer());
  }
  if (t.contains("handshake_timeout")) {
    auto s = rd.string_at(t, "api", "handshake_timeout");
    if (!s) return tl::make_unexpected(s.error());
    auto d = parse_duration(*s);
    if (!d || d->count() < 1 || d->count() > 300) {
      return tl::make_unexpected(
          rd.error("api.handshake_timeout", "must be a duration from 1s to 300s"));
    }
    config.api_handshake_timeout = *d;
  }
  return ok();
}

namespace {

// [ssh]'s counts: max_sessions, max_startups, per_source_max_startups, recording_queue_bytes.
Result<void> read_ssh_counts(const ConfigReader& rd, const Table& t, SshLimits& limits) {
  for (auto [key, out] : {std::pair{"max_sessions", &limits.max_sessions},
                          std::pair{"max_startups", &limits.max_startups},
                          std::pair{"per_source_max_startups", &limits.per_source_max_startups}}) {
    if (!t.contains(key)) continue;
    const auto& v = t.as_table().at(key);
    if (!v.is_integer() || v.as_integer() < 1 || v.as_integer() > 100000) {
      return tl::make_unexpected(
          rd.error(std::string("ssh.") + key, "must be an integer from 1 to 100000"));
    }
    *out = static_cast<std::size_t>(v.as_integer());
  }
  if (t.contains("recording_queue_bytes")) {
    const auto& v = t.as_table().at("recording_queue_bytes");
    if (!v.is_integer() || v.as_integer() < 1048576 || v.as_integer() > 1073741824) {
      return tl::make_unexpected(
          rd.error("ssh.recording_queue_bytes", "must be an integer from 1048576 to 1073741824"));
    }
    limits.recording_queue_bytes = static_cast<std::size_t>(v.as_integer());
  }
  return ok();
}

// [ssh]'s durations: warn_before (at most 24h), login_grace_time (1s to 10m).
Result<void> read_ssh_durations(const ConfigReader& rd, const Table& t, SshLimits& limits) {
  if (t.contains("warn_before")) {
    auto text = rd.string_at(t, "ssh", "warn_before");
    if (!text) return tl::make_unexpected(text.error());
    auto d = parse_duration(*text);
    if (!d) return tl::make_unexpected(rd.error("ssh.warn_before", d.error().message));
    if (*d > std::chrono::hours(24)) {
      return tl::make_unexpected(rd.error("ssh.warn_before", "must be at most 24h"));
    }
    limits.warn_before = *d;
  }
  if (t.contains("login_grace_time")) {
    auto text = rd.string_at(t, "ssh", "login_grace_time");
    if (!text) return tl::make_unexpected(text.error());
    auto d = parse_duration(*text);
    if (!d) return tl::make_unexpected(rd.error("ssh.login_grace_time", d.error().message));
    if (*d < std::chrono::seconds(1) || *d > std::chrono::minutes(10)) {
      return tl::make_unexpected(rd.error("ssh.login_grace_time", "must be from 1s to 10m"));
    }
    limits.login_grace_time = *d;
  }
  return ok();
}

}  // namespace

// [ssh]: the listener and the limits on its session workers.
Result<void> read_ssh(const ConfigReader& rd, const Table& root, Config& config) {
  if (!root.contains("ssh")) return ok();
  const auto& t = root.as_table().at("ssh");
  const std::set<std::string> keys{"listen",
                                   "max_sessions",
                                   "max_startups",
                                   "warn_before",
                                   "worker_user",
                                   "recording_queue_bytes",
                                   "per_source_max_startups",
                                   "login_grace_time"};
  if (auto r = rd.only_keys(t, "ssh", keys); !r) return r;
  if (t.contains("worker_user")) {
    auto user = rd.string_at(t, "ssh", "worker_user");
    if (!user) return tl::make_unexpected(user.error());
    if (user->empty() || user->size() > 64) {
      return tl::make_unexpected(rd.error("ssh.worker_user", "must be 1 to 64 characters"));
    }
    config.ssh_limits.worker_user = *user;
  }
  if (auto r = rd.listen_key(t, "ssh", config.ssh); !r) return r;
  if (auto r = read_ssh_counts(rd, t, config.ssh_limits); !r) return r;
  return read_ssh_durations(rd, t, config.ssh_limits);
}

}  // namespace sekisho::broker::config_detail
