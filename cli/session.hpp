// The connection of one command run to its gateway: which server, which pin, which token.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "cli/api_client.hpp"
#include "cli/arguments.hpp"
#include "cli/cli_home.hpp"

namespace sekisho::cli {

// Options that come before the command: `sekisho [--server URL] [--json] COMMAND`.
struct GlobalOptions {
  std::string server;  // --server or SEKISHO_SERVER; empty when neither was given
  bool json = false;
};

// The gateway to talk to: --server/SEKISHO_SERVER, else the one of the current session, else
// https://127.0.0.1:8443.
[[nodiscard]] Result<ServerUrl> choose_server(const GlobalOptions& options,
                                              const std::optional<SessionInfo>& session);

class Gateway {
 public:
  // A connection without a token (for login), pinned to the stored certificate if there is one.
  [[nodiscard]] static Result<std::unique_ptr<Gateway>> anonymous(const GlobalOptions& options);
  // A connection with the session's token; refuses when nobody is logged in to that server, so
  // that a token is never sent to another server than the one that issued it.
  [[nodiscard]] static Result<std::unique_ptr<Gateway>> logged_in(const GlobalOptions& options);

  ApiClient& api() { return *api_; }
  const CliHome& home() const { return home_; }
  const ServerUrl& server() const { return api_->server(); }
  // The pinned fingerprint, or nullopt when this server has never been pinned.
  const std::optional<std::string>& pinned() const { return pinned_; }
  const std::optional<SessionInfo>& session() const { return session_; }
  const Secret* token() const { return token_ ? &*token_ : nullptr; }

  // Authenticated calls returning the body of a 2xx answer, or the server's one-line error.
  [[nodiscard]] Result<nlohmann::json> get(const std::string& path);
  [[nodiscard]] Result<nlohmann::json> del(const std::string& path);
  [[nodiscard]] Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body);
  [[nodiscard]] Result<nlohmann::json> post_secret(const std::string& path, const Secret& body);
  // An authenticated file download (see ApiClient::download).
  [[nodiscard]] Result<void> download(const std::string& path,
                                      const std::function<bool(std::string_view)>& sink);

 private:
  Gateway(CliHome home, std::optional<SessionInfo> session, const ServerUrl& server,
          std::optional<std::string> pinned);
  [[nodiscard]] Result<nlohmann::json> checked(Result<ApiResponse> response) const;

  CliHome home_;
  std::optional<SessionInfo> session_;
  std::optional<std::string> pinned_;
  std::optional<Secret> token_;
  std::unique_ptr<ApiClient> api_;
};

// Prints JSON as the server sent it (two-space indent, invalid UTF-8 replaced).
void print_json(const nlohmann::json& value);

}  // namespace sekisho::cli
