// hosts (managed targets) and accounts (vaulted credentials on them).
#include <iostream>

#include "base/clock.hpp"
#include "base/files.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/prompt.hpp"
#include "cli/table.hpp"

namespace sekisho::cli {

namespace {

constexpr std::size_t kMaxPrivateKeyFile = 64 * 1024;

std::string address_of(const nlohmann::json& host) {
  const std::string address = cell(host, "address");
  const std::string port = cell(host, "port");
  if (port.empty()) return address;
  return (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + port;
}

// docs/api.md names the field "rotate_every" (text such as "30d"); a server that sends
// "rotate_every_seconds" instead is shown in the same compact form.
std::string rotation_of(const nlohmann::json& account) {
  if (auto text = cell(account, "rotate_every"); !text.empty()) return text;
  const auto it = account.find("rotate_every_seconds");
  if (it == account.end() || !it->is_number_integer()) return "";
  const auto seconds = it->get<long long>();
  for (const auto& [unit, size] : {std::pair{"d", 86400LL}, {"h", 3600LL}, {"m", 60LL}}) {
    if (seconds > 0 && seconds % size == 0) return std::to_string(seconds / size) + unit;
  }
  return std::to_string(seconds) + "s";
}

}  // namespace

Result<void> run_hosts_add(const GlobalOptions& global, const HostAddOptions& options) {
  if (auto r = check_path_name("host name", options.name); !r) return r;
  auto address = parse_host_address(options.address, options.protocol == "rdp" ? 3389 : 22);
  if (!address) return tl::make_unexpected(address.error());
  nlohmann::json request = {{"name", options.name},
                            {"address", address->address},
                            {"port", address->port},
                            {"protocol", options.protocol}};
  if (options.group) request["group"] = *options.group;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->post("/v1/hosts", request);
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
  } else {
    std::cout << "host " << options.name << " added (" << address->text() << ", "
              << options.protocol;
    if (const auto fp = cell(*body, "host_key_fingerprint"); !fp.empty()) {
      std::cout << "; pinned host key " << printable(fp);
    }
    std::cout << ")" << std::endl;
  }
  return ok();
}

Result<void> run_hosts_list(const GlobalOptions& global) {
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->get("/v1/hosts");
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : body->value("hosts", nlohmann::json::array())) {
    const std::string retired = cell(h, "retired_at");
    rows.push_back({cell(h, "name") + (retired.empty() ? "" : " (retired)"), address_of(h),
                    cell(h, "protocol"), cell(h, "group"), cell(h, "host_key_fingerprint")});
  }
  std::cout << format_table({"NAME", "ADDRESS", "PROTOCOL", "GROUP", "HOST KEY"}, rows);
  return ok();
}

Result<void> run_hosts_show(const GlobalOptions& global, const std::string& name) {
  if (auto r = check_path_name("host name", name); !r) return r;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->get("/v1/hosts/" + name);
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::cout << format_table({"name", cell(*body, "name")},
                            {{"address", address_of(*body)},
                             {"protocol", cell(*body, "protocol")},
                             {"group", cell(*body, "group")},
                             {"host key", cell(*body, "host_key_fingerprint")},
                             {"created", cell(*body, "created_at")}});
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : body->value("accounts", nlohmann::json::array())) {
    rows.push_back({cell(a, "name"), cell(a, "kind"), rotation_of(a)});
  }
  if (rows.empty()) {
    std::cout << "\nno accounts" << std::endl;
  } else {
    std::cout << "\n" << format_table({"ACCOUNT", "KIND", "ROTATE EVERY"}, rows);
  }
  return ok();
}

Result<void> run_hosts_remove(const GlobalOptions& global, const std::string& name) {
  if (auto r = check_path_name("host name", name); !r) return r;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->del("/v1/hosts/" + name);
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
  } else if (body->value("retired", false)) {
    std::cout << "host " << name
              << " retired: it has requests or sessions on record, kept for their history; no "
                 "new requests or sessions"
              << std::endl;
  } else {
    std::cout << "host " << name << " removed" << std::endl;
  }
  return ok();
}

Result<void> run_hosts_repin(const GlobalOptions& global, const std::string& name,
                             const std::optional<std::string>& expect) {
  if (auto r = check_path_name("host name", name); !r) return r;
  if (!expect && !have_terminal()) {
    return fail(ErrorCode::kInvalidArgument,
                "hosts repin: no terminal to confirm the new key on; compare its fingerprint out "
                "of band and pass --expect FINGERPRINT");
  }
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  const std::string path = "/v1/hosts/" + name + "/repin";
  nlohmann::json request = nlohmann::json::object();
  if (expect) request["expect"] = *expect;
  auto body = (*gateway)->post(path, request);
  if (!body) return tl::make_unexpected(body.error());
  const std::string old_fp = printable(cell(*body, "old_fingerprint"));
  const std::string new_fp = printable(cell(*body, "new_fingerprint"));
  if (!body->value("changed", false)) {
    if (global.json) {
      print_json(*body);
    } else {
      std::cout << "host " << name << " presents the pinned key " << old_fp << "; nothing changed"
                << std::endl;
    }
    return ok();
  }
  if (!expect) {
    std::cout << "host " << name << "\n  pinned:    " << old_fp << "\n  presented: " << new_fp
              << std::endl;
    auto answer = prompt_visible("Pin the presented key? [y/N] ");
    if (!answer) return tl::make_unexpected(answer.error());
    if (*answer != "y" && *answer != "yes") {
      return fail(ErrorCode::kInvalidArgument, "not confirmed; the pinned key stays " + old_fp);
    }
    // The gateway probes again and pins only if the host still presents what was shown.
    body = (*gateway)->post(path, {{"expect", cell(*body, "new_fingerprint")}});
    if (!body) return tl::make_unexpected(body.error());
  }
  if (global.json) {
    print_json(*body);
  } else {
    std::cout << "host " << name << ": pinned " << printable(cell(*body, "new_fingerprint"))
              << " (was " << printable(cell(*body, "old_fingerprint")) << ")" << std::endl;
  }
  return ok();
}

Result<void> run_accounts_add(const GlobalOptions& global, const AccountAddOptions& options) {
  auto target = split_account_at_host(options.target);
  if (!target) return tl::make_unexpected(target.error());
  if (auto r = check_path_name("host name", target->host); !r) return r;
  nlohmann::json fields = {{"account", target->account}, {"host", target->host}};
  if (options.rotate_every) {
    if (auto d = parse_duration(*options.rotate_every); !d) {
      return fail(ErrorCode::kInvalidArgument, "--rotate-every: " + d.error().message);
    }
    fields["rotate_every"] = *options.rotate_every;
  }
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  Result<Secret> secret = fail(ErrorCode::kInternal, "no credential");
  const char* field = "password";
  if (options.key_file) {
    // Refuses a key file that group or others can read, as ssh does.
    secret = read_private_file(*options.key_file, kMaxPrivateKeyFile);
    field = "private_key";
  } else {
    SecretSource secrets(options.password_stdin);
    secret = secrets.fresh("Password of " + options.target + ": ", "the password");
  }
  if (!secret) return tl::make_unexpected(secret.error());
  const Secret body = json_with_secrets(fields, {{field, &*secret}});
  auto created = (*gateway)->post_secret("/v1/accounts", body);
  if (!created) return tl::make_unexpected(created.error());
  if (global.json) {
    print_json(*created);
  } else {
    std::cout << "account " << printable(options.target) << " vaulted ("
              << printable(cell(*created, "kind")) << ")" << std::endl;
  }
  return ok();
}

}  // namespace sekisho::cli
