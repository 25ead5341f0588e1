// SEKISHO_HOME: where the CLI keeps its session token and the pinned gateway certificates.
//
//   session.json         {"server","user","expires_at"}   which gateway the token belongs to
//   token                the bearer token, raw (43 characters), read only into a Secret
//   known_gateways.json  {"https://host:port": {"certificate": "SHA256:<hex>", "pinned_at",
//                                             "signing_key": "<PEM>"}}
//                        the TLS certificate pinned at the first login, and the public key that
//                        signs the gateway's recordings (pinned at login, used by `verify`)
//
// The directory is 0700 and every file 0600, written atomically (temp file, fsync, rename).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho::cli {

// Who is logged in, to which gateway.
struct SessionInfo {
  std::string server;  // canonical URL (ServerUrl::url())
  std::string user;
  std::string expires_at;
};

class CliHome {
 public:
  explicit CliHome(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // $SEKISHO_HOME, else $HOME/.config/sekisho (HOME from the password database when unset).
  [[nodiscard]] static Result<CliHome> locate();

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path session_file() const { return dir_ / "session.json"; }
  std::filesystem::path token_file() const { return dir_ / "token"; }
  std::filesystem::path pins_file() const { return dir_ / "known_gateways.json"; }

  // Creates the directory (0700, parents as needed). Refuses an existing one that group or others
  // may access, or that is not a directory.
  [[nodiscard]] Result<void> ensure() const;

  // The current session, or nullopt when nobody is logged in.
  [[nodiscard]] Result<std::optional<SessionInfo>> load_session() const;
  // The session's token; refuses a token file readable by group or others.
  [[nodiscard]] Result<Secret> load_token() const;
  // Replaces the session: the old session.json goes first, so that a crash never pairs a new
  // token with an old server.
  [[nodiscard]] Result<void> save_session(const SessionInfo& info, const Secret& token) const;
  // Forgets the session (both files); succeeds when there was none.
  [[nodiscard]] Result<void> clear_session() const;

  // The fingerprint pinned for `server` (canonical URL), or nullopt.
  [[nodiscard]] Result<std::optional<std::string>> pinned_certificate(
      const std::string& server) const;
  // Pins `fingerprint` for `server`, keeping the pins of other servers.
  [[nodiscard]] Result<void> pin_certificate(const std::string& server,
                                             const std::string& fingerprint,
                                             const std::string& pinned_at) const;

  // The recording signing key (PEM) pinned for `server`, or nullopt.
  [[nodiscard]] Result<std::optional<std::string>> pinned_signing_key(
      const std::string& server) const;
  // Pins `public_pem` as the signing key of `server`, keeping its certificate pin.
  [[nodiscard]] Result<void> pin_signing_key(const std::string& server,
                                             const std::string& public_pem) const;
  // Every pinned signing key with the server it belongs to (none when nothing is pinned).
  struct PinnedKey {
    std::string server;
    std::string public_pem;
  };
  [[nodiscard]] Result<std::vector<PinnedKey>> pinned_signing_keys() const;

 private:
  // known_gateways.json as an object ({} when the file does not exist).
  [[nodiscard]] Result<nlohmann::json> read_pins() const;

  std::filesystem::path dir_;
};

}  // namespace sekisho::cli
