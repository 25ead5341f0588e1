// The sekisho commands. Each returns ok() after printing its result on stdout, or the Error whose
// one-line message main() prints on stderr. Secrets come from SecretSource, never from options.
#pragma once

#include <optional>
#include <string>

#include "base/result.hpp"
#include "cli/session.hpp"

namespace sekisho::cli {

struct LoginOptions {
  std::string user;
  bool password_stdin = false;
  std::optional<std::string> totp;
};
[[nodiscard]] Result<void> run_login(const GlobalOptions& global, const LoginOptions& options);
[[nodiscard]] Result<void> run_logout(const GlobalOptions& global);
[[nodiscard]] Result<void> run_whoami(const GlobalOptions& global);
// Starts TOTP enrolment. Replacing an enrolled factor needs its current code: `current_code`, or
// asked on the terminal when the gateway says one is enrolled and none was given.
[[nodiscard]] Result<void> run_totp_enroll(const GlobalOptions& global,
                                           const std::optional<std::string>& current_code);
[[nodiscard]] Result<void> run_totp_confirm(const GlobalOptions& global, const std::string& code);

struct UserAddOptions {
  std::string name;
  std::string roles;
  bool password_stdin = false;
};
[[nodiscard]] Result<void> run_users_add(const GlobalOptions& global,
                                         const UserAddOptions& options);
[[nodiscard]] Result<void> run_users_list(const GlobalOptions& global);
[[nodiscard]] Result<void> run_users_disable(const GlobalOptions& global, const std::string& name);
[[nodiscard]] Result<void> run_users_enable(const GlobalOptions& global, const std::string& name);

[[nodiscard]] Result<void> run_keys_add(const GlobalOptions& global, const std::string& file);
[[nodiscard]] Result<void> run_keys_list(const GlobalOptions& global);
[[nodiscard]] Result<void> run_keys_remove(const GlobalOptions& global,
                                           const std::string& fingerprint);

struct HostAddOptions {
  std::string name;
  std::string address;
  std::optional<std::string> group;
  std::string protocol = "ssh";
};
[[nodiscard]] Result<void> run_hosts_add(const GlobalOptions& global,
                                         const HostAddOptions& options);
[[nodiscard]] Result<void> run_hosts_list(const GlobalOptions& global);
[[nodiscard]] Result<void> run_hosts_show(const GlobalOptions& global, const std::string& name);
[[nodiscard]] Result<void> run_hosts_remove(const GlobalOptions& global, const std::string& name);
// Probes the host's key again and pins the new one once confirmed: by `expect` (the fingerprint
// verified out of band; refused when the host presents another), else by a yes on the terminal.
// Without either it refuses before contacting the gateway.
[[nodiscard]] Result<void> run_hosts_repin(const GlobalOptions& global, const std::string& name,
                                           const std::optional<std::string>& expect);

struct AccountAddOptions {
  std::string target;  // ACCOUNT@HOST
  bool password_stdin = false;
  std::optional<std::string> key_file;
  std::optional<std::string> rotate_every;
};
[[nodiscard]] Result<void> run_accounts_add(const GlobalOptions& global,
                                            const AccountAddOptions& options);

// Recorded sessions (auditor): listing, search, replay, export; verify works offline.
struct SessionListOptions {
  std::optional<std::string> user;
  std::optional<std::string> host;
  std::optional<std::string> since;  // ISO 8601 or relative (30m, 7d)
};
[[nodiscard]] Result<void> run_sessions_list(const GlobalOptions& global,
                                             const SessionListOptions& options);
[[nodiscard]] Result<void> run_sessions_search(const GlobalOptions& global,
                                               const std::string& text);
// Ends a live SSH session now (auditor, operator); the reason reaches the user and the audit log.
[[nodiscard]] Result<void> run_sessions_kill(const GlobalOptions& global, const std::string& id,
                                             const std::string& reason);

struct ReplayOptions {
  std::string id;
  std::string speed = "1";
  std::optional<std::string> from;        // offset: 90, 12.5, 10m, mm:ss
  std::optional<std::string> idle_limit;  // longest pause shown, in recording time
};
[[nodiscard]] Result<void> run_replay(const GlobalOptions& global, const ReplayOptions& options);

struct ExportOptions {
  std::string id;
  std::string format;              // asciicast | skr (png | mp4: RDP, refused for now)
  std::optional<std::string> out;  // default: standard output
};
[[nodiscard]] Result<void> run_export(const GlobalOptions& global, const ExportOptions& options);

struct VerifyOptions {
  std::string file;
  std::optional<std::string> public_key;  // PEM; pins the signer
};
// Needs no server and no login. Prints the report; an Error when the recording does not verify.
[[nodiscard]] Result<void> run_verify(const GlobalOptions& global, const VerifyOptions& options);

// An OpenSSH public key line from the text of a .pub file: the first line that is neither empty
// nor a comment. Refuses private keys and lines that do not look like "TYPE BASE64 [COMMENT]".
[[nodiscard]] Result<std::string> public_key_line(const std::string& text, const std::string& file);

struct RequestOptions {
  std::string target;
  std::string reason;
  std::optional<std::string> ticket;
  std::optional<std::string> duration;
  std::string mode = "session";
  std::optional<std::string> start;
  bool break_glass = false;
};
[[nodiscard]] Result<void> run_request(const GlobalOptions& global, const RequestOptions& options);
struct RequestListOptions {
  bool pending = false;
  bool mine = false;
};
[[nodiscard]] Result<void> run_requests(const GlobalOptions& global,
                                        const RequestListOptions& options);
[[nodiscard]] Result<void> run_show(const GlobalOptions& global, const std::string& id);
[[nodiscard]] Result<void> run_approve(const GlobalOptions& global, const std::string& id,
                                       const std::optional<std::string>& comment);
[[nodiscard]] Result<void> run_deny(const GlobalOptions& global, const std::string& id,
                                    const std::string& comment);
[[nodiscard]] Result<void> run_cancel(const GlobalOptions& global, const std::string& id);
// Prints the lent password alone on stdout and the end of the window on stderr (--json: one
// object {password, account, host, until} on stdout).
[[nodiscard]] Result<void> run_checkout(const GlobalOptions& global, const std::string& id);
[[nodiscard]] Result<void> run_checkin(const GlobalOptions& global, const std::string& id);

// Password rotation. `rotate` starts a server-side job and, unless --no-wait, polls it (a progress
// line on stderr when that is a terminal), prints each account's outcome and fails when any
// rotation failed. Exactly one of host, all, seen_by.
struct RotateOptions {
  std::optional<std::string> host;
  std::optional<std::string> account;  // with host
  bool all = false;
  std::optional<std::string> group;  // with all
  std::optional<std::string> seen_by;
  bool no_wait = false;  // print the job id and return
};
[[nodiscard]] Result<void> run_rotate(const GlobalOptions& global, const RotateOptions& options);
// The caller's jobs (operators and auditors: all), or one job with its per-account outcomes.
[[nodiscard]] Result<void> run_jobs(const GlobalOptions& global,
                                    const std::optional<std::string>& id);
struct AccountListOptions {
  std::optional<std::string> host;
  std::optional<std::string> state;  // current, pending, unknown, manual, checked-out
};
[[nodiscard]] Result<void> run_accounts_list(const GlobalOptions& global,
                                             const AccountListOptions& options);
}  // namespace sekisho::cli
