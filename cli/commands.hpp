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
[[nodiscard]] Result<void> run_totp_enroll(const GlobalOptions& global);
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

struct AccountAddOptions {
  std::string target;  // ACCOUNT@HOST
  bool password_stdin = false;
  std::optional<std::string> key_file;
  std::optional<std::string> rotate_every;
};
[[nodiscard]] Result<void> run_accounts_add(const GlobalOptions& global,
                                            const AccountAddOptions& options);

// An OpenSSH public key line from the text of a .pub file: the first line that is neither empty
// nor a comment. Refuses private keys and lines that do not look like "TYPE BASE64 [COMMENT]".
[[nodiscard]] Result<std::string> public_key_line(const std::string& text, const std::string& file);

}  // namespace sekisho::cli
