#include "cli/cli_home.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/crypto.hpp"
#include "base/files.hpp"

namespace sekisho::cli {

namespace {

constexpr std::size_t kMaxStateFile = 64 * 1024;
constexpr std::size_t kMaxToken = 1024;

Result<nlohmann::json> read_json_file(const std::filesystem::path& path) {
  auto text = read_file(path, kMaxStateFile);
  if (!text) return tl::make_unexpected(text.error());
  auto parsed = nlohmann::json::parse(*text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return fail(ErrorCode::kCorrupt, path.string() + " is not a JSON object; remove it");
  }
  return parsed;
}

Result<void> write_json_file(const std::filesystem::path& path, const nlohmann::json& value) {
  const std::string text = value.dump(2) + "\n";
  return write_file_atomic(path, as_bytes(text), 0600);
}

Result<void> remove_if_present(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return fail(ErrorCode::kIo, "cannot remove " + path.string() + ": " + errno_text(errno));
  }
  return ok();
}

}  // namespace

Result<CliHome> CliHome::locate() {
  if (const char* home = std::getenv("SEKISHO_HOME"); home != nullptr && *home != '\0') {
    return CliHome(home);
  }
  std::string user_home;
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    user_home = h;
  } else if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) {
    user_home = pw->pw_dir;
  } else {
    return fail(ErrorCode::kNotFound, "cannot tell the home directory; set SEKISHO_HOME");
  }
  return CliHome(std::filesystem::path(user_home) / ".config" / "sekisho");
}

Result<void> CliHome::ensure() const {
  struct stat st {};
  if (::lstat(dir_.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return fail(ErrorCode::kIo, "cannot read " + dir_.string() + ": " + errno_text(errno));
    }
    std::error_code ec;
    if (dir_.has_parent_path()) std::filesystem::create_directories(dir_.parent_path(), ec);
    if (ec)
      return fail(ErrorCode::kIo,
                  "cannot create " + dir_.parent_path().string() + ": " + ec.message());
    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
      return fail(ErrorCode::kIo, "cannot create " + dir_.string() + ": " + errno_text(errno));
    }
    // mkdir's mode passes through the umask; say exactly what we mean.
    if (::chmod(dir_.c_str(), 0700) != 0) {
      return fail(ErrorCode::kIo, "cannot chmod " + dir_.string() + ": " + errno_text(errno));
    }
    return ok();
  }
  if (!S_ISDIR(st.st_mode)) {
    return fail(ErrorCode::kInvalidArgument, dir_.string() + " is not a directory");
  }
  if ((st.st_mode & 077) != 0) {
    return fail(ErrorCode::kPermissionDenied,
                dir_.string() + " may be read by group or others; run: chmod 700 " + dir_.string());
  }
  if (st.st_uid != ::geteuid()) {
    return fail(ErrorCode::kPermissionDenied, dir_.string() + " belongs to another user");
  }
  return ok();
}

Result<std::optional<SessionInfo>> CliHome::load_session() const {
  std::error_code ec;
  if (!std::filesystem::exists(session_file(), ec)) return std::optional<SessionInfo>();
  if (!std::filesystem::exists(token_file(), ec)) return std::optional<SessionInfo>();
  auto j = read_json_file(session_file());
  if (!j) return tl::make_unexpected(j.error());
  if (!j->contains("server") || !(*j)["server"].is_string() || !j->contains("user") ||
      !(*j)["user"].is_string()) {
    return fail(ErrorCode::kCorrupt,
                session_file().string() + " lacks server or user; log in again");
  }
  SessionInfo info;
  info.server = (*j)["server"].get<std::string>();
  info.user = (*j)["user"].get<std::string>();
  info.expires_at = j->value("expires_at", std::string());
  return std::optional<SessionInfo>(std::move(info));
}

Result<Secret> CliHome::load_token() const {
  auto token = read_private_file(token_file(), kMaxToken);
  if (!token) return tl::make_unexpected(token.error());
  if (token->empty())
    return fail(ErrorCode::kCorrupt, token_file().string() + " is empty; log in again");
  return token;
}

Result<void> CliHome::save_session(const SessionInfo& info, const Secret& token) const {
  if (auto r = ensure(); !r) return r;
  if (auto r = remove_if_present(session_file()); !r) return r;
  if (auto r = write_file_atomic(token_file(), token.bytes(), 0600); !r) return r;
  return write_json_file(session_file(), nlohmann::json{{"server", info.server},
                                                        {"user", info.user},
                                                        {"expires_at", info.expires_at}});
}

Result<void> CliHome::clear_session() const {
  if (auto r = remove_if_present(session_file()); !r) return r;
  return remove_if_present(token_file());
}

Result<std::optional<std::string>> CliHome::pinned_certificate(const std::string& server) const {
  auto pins = read_pins();
  if (!pins) return tl::make_unexpected(pins.error());
  auto it = pins->find(server);
  if (it == pins->end()) return std::optional<std::string>();
  if (!it->is_object() || !it->contains("certificate") || !(*it)["certificate"].is_string()) {
    return fail(ErrorCode::kCorrupt, pins_file().string() + " has a malformed entry for " + server);
  }
  return std::optional<std::string>((*it)["certificate"].get<std::string>());
}

Result<void> CliHome::pin_certificate(const std::string& server, const std::string& fingerprint,
                                      const std::string& pinned_at) const {
  if (auto r = ensure(); !r) return r;
  auto pins = read_pins();
  if (!pins) return tl::make_unexpected(pins.error());
  auto& entry = (*pins)[server];
  if (!entry.is_object()) entry = nlohmann::json::object();
  entry["certificate"] = fingerprint;
  entry["pinned_at"] = pinned_at;
  return write_json_file(pins_file(), *pins);
}

Result<nlohmann::json> CliHome::read_pins() const {
  std::error_code ec;
  if (!std::filesystem::exists(pins_file(), ec)) return nlohmann::json::object();
  auto j = read_json_file(pins_file());
  if (!j) return tl::make_unexpected(j.error());
  if (!j->is_object()) return fail(ErrorCode::kCorrupt, pins_file().string() + " is not an object");
  return j;
}

Result<std::optional<std::string>> CliHome::pinned_signing_key(const std::string& server) const {
  auto pins = read_pins();
  if (!pins) return tl::make_unexpected(pins.error());
  auto it = pins->find(server);
  if (it == pins->end() || !it->is_object() || !it->contains("signing_key")) {
    return std::optional<std::string>();
  }
  if (!(*it)["signing_key"].is_string()) {
    return fail(ErrorCode::kCorrupt, pins_file().string() + " has a malformed entry for " + server);
  }
  return std::optional<std::string>((*it)["signing_key"].get<std::string>());
}

Result<void> CliHome::pin_signing_key(const std::string& server,
                                      const std::string& public_pem) const {
  if (auto r = ensure(); !r) return r;
  auto pins = read_pins();
  if (!pins) return tl::make_unexpected(pins.error());
  auto& entry = (*pins)[server];
  if (!entry.is_object()) entry = nlohmann::json::object();
  entry["signing_key"] = public_pem;
  return write_json_file(pins_file(), *pins);
}

Result<std::vector<CliHome::PinnedKey>> CliHome::pinned_signing_keys() const {
  auto pins = read_pins();
  if (!pins) return tl::make_unexpected(pins.error());
  std::vector<PinnedKey> keys;
  for (const auto& [server, entry] : pins->items()) {
    if (entry.is_object() && entry.contains("signing_key") && entry["signing_key"].is_string()) {
      keys.push_back({server, entry["signing_key"].get<std::string>()});
    }
  }
  return keys;
}

}  // namespace sekisho::cli
