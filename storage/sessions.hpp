// Recorded sessions as rows of the store: who connected to which account@host, when, and the
// recording that proves what happened (its file, final hash and size). The recording itself is a
// file beside the store (recorder/recording.hpp); the key that wraps its data key is here too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "storage/store.hpp"

namespace sekisho::storage {

// Session ids: 1-64 of [A-Za-z0-9-]; they name recording files, so nothing else is accepted.
[[nodiscard]] Result<void> check_session_id(const std::string& id);
// A fresh random session id (16 hex digits).
std::string new_session_id();

// Who and what a new session is for, resolved from names by resolve_session_target.
struct SessionTarget {
  std::int64_t user_id = 0;
  std::int64_t account_id = 0;
  std::string user;
  std::string account;
  std::string host;
  std::string protocol;  // the host's: "ssh" or "rdp"
};

// Looks up a gateway user and ACCOUNT@HOST. kNotFound names what is missing; a disabled user is
// refused (kPermissionDenied), as is an account of a retired host ("host NAME is retired").
[[nodiscard]] Result<SessionTarget> resolve_session_target(Store::Tx& tx, const std::string& user,
                                                           const std::string& account,
                                                           const std::string& host);

struct NewSession {
  std::string id;
  std::optional<std::string> request_id;  // must name an existing request when set
  SessionTarget target;
  std::string started_at;
  std::string recording_path;  // relative to the data dir: "recordings/<id>.skr"
};

// Inserts an open session (no end yet). kAlreadyExists for a taken id, kNotFound for an unknown
// request id.
[[nodiscard]] Result<void> insert_session(Store::Tx& tx, const NewSession& session);

// How a session ended. recording_hash is empty when the recording could not be closed (then the
// session lists as "incomplete"); a session the core sealed has a hash and lists as "incomplete"
// too (it ended without its worker's own closing record).
struct SessionEnd {
  std::string ended_at;
  std::string end_reason;  // one line: "exit 0", "signal 9", "recording failed: disk full"
  std::string recording_hash;
  std::uint64_t recording_size = 0;
  std::int64_t duration_us = 0;
  bool recording_sealed = false;  // the hash is of the core's seal, not a worker's closing
};

// Records the end of an open session; kNotFound when no such session, kAlreadyExists when it has
// already ended (an end is written once).
[[nodiscard]] Result<void> finish_session(Store::Tx& tx, const std::string& id,
                                          const SessionEnd& end);

struct SessionRecord {
  std::string id;
  std::string request_id;  // "" when none
  std::string user;
  std::string account;
  std::string host;
  std::string protocol;
  std::string started_at;
  std::string ended_at;  // "" while open
  std::string end_reason;
  std::string recording_path;
  std::string recording_hash;  // "" while open or when the recording was not closed
  std::uint64_t recording_size = 0;
  std::int64_t duration_us = 0;
  // When retention deleted the recording file ("" while it is kept); the row stays.
  std::string recording_deleted_at;
  bool recording_sealed = false;
  // "open" (no end yet), "closed" (ended with a signed, closed recording) or "incomplete"
  // (ended without the worker's closing record: the recording was sealed by the core, or could
  // not be closed at all).
  std::string state() const;
};

struct SessionFilter {
  std::optional<std::string> user;
  std::optional<std::string> host;
  std::optional<std::string> since;  // started_at >= since (ISO 8601 UTC, as stored)
  std::size_t limit = 1000;
};

// Sessions matching `filter`, newest first, at most filter.limit.
[[nodiscard]] Result<std::vector<SessionRecord>> list_sessions(Store::Tx& tx,
                                                               const SessionFilter& filter);
// Every session with no end yet, oldest first (at start-up: the sessions a stopped gateway left).
[[nodiscard]] Result<std::vector<SessionRecord>> open_sessions(Store::Tx& tx);
[[nodiscard]] Result<std::optional<SessionRecord>> find_session(Store::Tx& tx,
                                                                const std::string& id);

// Ended sessions whose recording is still kept and that ended before `ended_before` (ISO 8601
// UTC, as stored), oldest first, at most `limit`. Open sessions are never listed.
[[nodiscard]] Result<std::vector<SessionRecord>> expired_recordings(Store::Tx& tx,
                                                                    const std::string& ended_before,
                                                                    std::size_t limit);

// Marks the recording of an ended session as deleted at `deleted_at`. kNotFound when there is no
// such ended session with a kept recording (open, unknown, or already marked).
[[nodiscard]] Result<void> mark_recording_deleted(Store::Tx& tx, const std::string& id,
                                                  const std::string& deleted_at);

// The 32-byte key that wraps every recording's data key (recorder::new_data_key). It is random,
// made on first use and kept only inside the encrypted store, like the audit chain key, so that a
// master key rotation leaves every recording readable.
[[nodiscard]] Result<Secret> recording_key(Store& store);

}  // namespace sekisho::storage
