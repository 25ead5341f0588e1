// The messages of the password-rotation jobs of `sekisho-worker` (docs/ssh_gateway.md "Rotation
// over SSH"), in one place for both ends: the core writes the hello and reads the result with
// these functions, the worker reads the hello and writes the result with them.
//
// One job, one TCP connection that the core opened (wire::kClientFd), one conversation:
//   core → worker  {type: "hello", job: "change_password" | "try_login", address, port,
//                   timeout_seconds, change_user, host_key (the pinned "type base64": public, it
//                   only chooses the host-key algorithms offered), login, login_kind ("password" |
//                   "key"), account (change_password: whose password changes; try_login: whose
//                   password `su` checks, when not the login's own), sudo}. No secret.
//   worker → core  after giving up root and entering its seccomp filter, the key exchange:
//                  {type: "host_key", key: "type base64"}, or a result (unreachable).
//   core → worker  {type: "abort"} when the key is not the pinned one (nothing else is sent), or
//                  {type: "secrets", secret (the login's), new_password (change_password), password
//                  (try_login through su: the one to check)}.
//   worker → core  {type: "result", verdict, message}: one answer, then the worker exits.
//
// How far the core trusts the worker: not at all for the host key (the core compares it with
// the pinned one itself and sends the secrets only on a match), and for the verdict only as far
// as it must: a worker that lies "changed" is caught by the rotation engine's fresh login with
// the new password (another worker, another connection). A worker that dies or answers
// something this file does not parse counts as a connection that broke: after the secrets were
// sent, "unknown" for a change (the host may have taken it). Messages are cut to one bounded line.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "ssh/target.hpp"

namespace sekisho::ssh {

inline constexpr const char* kChangePasswordJob = "change_password";
inline constexpr const char* kTryLoginJob = "try_login";

// The longest message either side keeps (the host's words on a refused change).
inline constexpr std::size_t kMaxRotationMessage = 300;

enum class RotationJobKind {
  kChangePassword,  // log in as `login`, run chpasswd with "ACCOUNT:NEW" on its standard input
  kTryLogin,        // log in as `login`; with an `account`, then run `su -c true ACCOUNT` on a pty
};

// The non-secret part of a job: everything the hello carries but the privileges to give up.
struct RotationJob {
  RotationJobKind kind = RotationJobKind::kTryLogin;
  std::string address;  // names the host in libssh's messages only: the socket is connected
  unsigned int port = 22;
  long timeout_seconds = 30;    // each blocking step with the host (1..600)
  std::string pinned_host_key;  // "type base64"
  std::string login;            // the account logged in as
  CredentialKind login_kind = CredentialKind::kPassword;
  // change_password: the account whose password changes. try_login: "" (the login's own password
  // is checked), or the account whose password `su` checks (a host that refuses its password
  // logins, as `PermitRootLogin prohibit-password` does for root).
  std::string account;
  bool sudo = false;  // change_password: `sudo -n chpasswd` instead of `chpasswd`
};

// The hello for `job` (the caller adds "change_user"). kInvalidArgument when a name breaks the
// rules of base/names (checked here, before the name goes anywhere), the address is empty or
// longer than 253, the port is 0, or the timeout is outside 1..600. Pure function.
[[nodiscard]] Result<nlohmann::json> rotation_hello(const RotationJob& job);

// The job a hello describes, checked as rotation_hello checks it. kInvalidArgument "bad rotation
// job in the hello" otherwise. Pure function.
[[nodiscard]] Result<RotationJob> rotation_job_from_hello(const nlohmann::json& hello);

// The program the job runs on the host: a fixed string, never built from a name or a secret.
const char* chpasswd_command(const RotationJob& job);
// try_login through su: "su -c true ACCOUNT" (the account checked by base/names rules and never
// starting with '-', so that su cannot take it for an option).
std::string su_command(const RotationJob& job);

// The worker's verdict on one job.
enum class RotationVerdict {
  kAccepted,     // try_login: the host let the login in
  kRefused,      // the host refused the login (either job)
  kUnreachable,  // no SSH conversation, or it broke before anything was sent to chpasswd
  kChanged,      // change_password: chpasswd exited 0
  kRejected,     // change_password: chpasswd exited non-zero (its words in the message)
  kUnknown,      // change_password: the connection broke after the new password was sent
};
const char* to_string(RotationVerdict verdict);

struct RotationResult {
  RotationVerdict verdict = RotationVerdict::kUnknown;
  std::string message;  // one line, at most kMaxRotationMessage bytes; no secret
};

// {type: "result", verdict, message}, the message made one bounded line. Pure function.
nlohmann::json rotation_result_message(RotationVerdict verdict, std::string_view message);

// The worker's result, checked: kInvalidArgument unless `body` is a result whose verdict is one
// of RotationVerdict's names and that `kind` can give (try_login: accepted, refused,
// unreachable; change_password: every other). The message is made one bounded line again (the
// core trusts no text of the worker). Pure function.
[[nodiscard]] Result<RotationResult> rotation_result_from(const nlohmann::json& body,
                                                          RotationJobKind kind);

// `text` as one line of at most `max` bytes: control characters and runs of blanks become one
// space, leading and trailing blanks go. Pure function.
std::string one_line(std::string_view text, std::size_t max);

// `text` with every occurrence of `secret` replaced by "[secret]" (a host that echoes its input
// must not put a password in the gateway's log). An empty `secret` changes nothing. Pure.
std::string redact(std::string text, std::string_view secret);

// Whether chpasswd can take `password` in the line "ACCOUNT:PASSWORD\n": not empty, no line
// break (it would end the line) and no NUL. A ':' is fine: chpasswd splits at the first one, which
// ends the account name. The error never shows the password. Pure function.
[[nodiscard]] Result<void> check_chpasswd_password(std::string_view password);

}  // namespace sekisho::ssh
