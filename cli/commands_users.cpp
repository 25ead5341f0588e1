// users (the local directory) and keys (the caller's SSH public keys).
#include <iostream>

#include "base/files.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/prompt.hpp"
#include "cli/table.hpp"

namespace sekisho::cli {

namespace {

constexpr std::size_t kMaxPublicKeyFile = 16 * 1024;

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

bool has_key_type_prefix(std::string_view line) {
  for (std::string_view prefix : {"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-"}) {
    if (line.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace

Result<std::string> public_key_line(const std::string& text, const std::string& file) {
  if (text.find("PRIVATE KEY") != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument,
                file + " is a private key; give its public half (the .pub file)");
  }
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = trim(std::string_view(text).substr(start, end - start));
    start = end + 1;
    if (line.empty() || line.front() == '#') continue;
    if (!has_key_type_prefix(line) || line.find(' ') == std::string::npos) {
      return fail(ErrorCode::kInvalidArgument,
                  file + " does not hold an OpenSSH public key (\"ssh-ed25519 AAAA… comment\")");
    }
    return line;
  }
  return fail(ErrorCode::kInvalidArgument, file + " holds no public key");
}

Result<void> run_users_add(const GlobalOptions& global, const UserAddOptions& options) {
  if (auto r = check_path_name("user name", options.name); !r) return r;
  auto roles = parse_roles(options.roles);
  if (!roles) return tl::make_unexpected(roles.error());
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  SecretSource secrets(options.password_stdin);
  auto password =
      secrets.fresh("Initial password for " + options.name + ": ", "the initial password");
  if (!password) return tl::make_unexpected(password.error());
  const Secret body =
      json_with_secrets({{"name", options.name}, {"roles", *roles}}, {{"password", &*password}});
  auto created = (*gateway)->post_secret("/v1/users", body);
  if (!created) return tl::make_unexpected(created.error());
  if (global.json) {
    print_json(*created);
  } else {
    std::cout << "user " << printable(options.name)
              << " created (roles: " << printable(cell(*created, "roles"))
              << "); the password must be changed at first login" << std::endl;
  }
  return ok();
}

Result<void> run_users_list(const GlobalOptions& global) {
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->get("/v1/users");
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : body->value("users", nlohmann::json::array())) {
    rows.push_back({cell(u, "name"), cell(u, "roles"), cell(u, "source"),
                    u.value("disabled", false) ? "disabled" : "active", cell(u, "created_at")});
  }
  std::cout << format_table({"NAME", "ROLES", "SOURCE", "STATE", "CREATED"}, rows);
  return ok();
}

Result<void> run_users_disable(const GlobalOptions& global, const std::string& name) {
  if (auto r = check_path_name("user name", name); !r) return r;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->post("/v1/users/" + name + "/disable", nlohmann::json::object());
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
  } else {
    std::cout << "user " << name << " disabled: " << body->value("sessions_ended", 0)
              << " SSH session(s) and " << body->value("requests_ended", 0)
              << " request(s) ended, API tokens revoked" << std::endl;
  }
  return ok();
}

Result<void> run_users_enable(const GlobalOptions& global, const std::string& name) {
  if (auto r = check_path_name("user name", name); !r) return r;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->post("/v1/users/" + name + "/enable", nlohmann::json::object());
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
  } else {
    std::cout << "user " << name << " enabled; requests ended by the disable stay ended"
              << std::endl;
  }
  return ok();
}

Result<void> run_keys_add(const GlobalOptions& global, const std::string& file) {
  auto text = read_file(file, kMaxPublicKeyFile);
  if (!text) return tl::make_unexpected(text.error());
  auto line = public_key_line(*text, file);
  if (!line) return tl::make_unexpected(line.error());
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->post("/v1/keys", {{"public_key", *line}});
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
  } else {
    std::cout << "key added: " << printable(cell(*body, "fingerprint")) << " "
              << printable(cell(*body, "type")) << " " << printable(cell(*body, "comment"))
              << std::endl;
  }
  return ok();
}

Result<void> run_keys_list(const GlobalOptions& global) {
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->get("/v1/keys");
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : body->value("keys", nlohmann::json::array())) {
    rows.push_back(
        {cell(k, "fingerprint"), cell(k, "type"), cell(k, "comment"), cell(k, "created_at")});
  }
  std::cout << format_table({"FINGERPRINT", "TYPE", "COMMENT", "ADDED"}, rows);
  return ok();
}

Result<void> run_keys_remove(const GlobalOptions& global, const std::string& fingerprint) {
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->post("/v1/keys/remove", {{"fingerprint", fingerprint}});
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
  } else {
    std::cout << "key removed: " << printable(fingerprint) << std::endl;
  }
  return ok();
}

}  // namespace sekisho::cli
