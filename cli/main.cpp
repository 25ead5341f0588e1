// sekisho: the client CLI. Parses arguments and calls into the sekisho_cli library.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>

#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace {

using namespace sekisho;
using namespace sekisho::cli;

using Action = std::function<Result<void>()>;

// Registers `sub` to run `action` when it is the chosen command.
void on_run(CLI::App* sub, Action& chosen, Action action) {
  sub->callback([&chosen, action = std::move(action)] { chosen = action; });
}

void add_session_commands(CLI::App& app, GlobalOptions& g, Action& chosen) {
  static LoginOptions login;
  auto* sub =
      app.add_subcommand("login", "log in to the gateway; pins its certificate on first use");
  sub->add_option("--user", login.user, "user name")->required();
  sub->add_flag("--password-stdin", login.password_stdin,
                "read the password from line 1 of standard input (and a required new password "
                "from line 2)");
  sub->add_option("--totp", login.totp, "TOTP code from the authenticator app");
  on_run(sub, chosen, [&g] { return run_login(g, login); });

  on_run(app.add_subcommand("logout", "revoke the session token and forget it"), chosen,
         [&g] { return run_logout(g); });
  on_run(app.add_subcommand("whoami", "show the logged-in user"), chosen,
         [&g] { return run_whoami(g); });

  auto* totp = app.add_subcommand("totp", "two-factor authentication");
  totp->require_subcommand(1);
  on_run(totp->add_subcommand("enroll", "start TOTP enrolment: prints the secret for the app"),
         chosen, [&g] { return run_totp_enroll(g); });
  static std::string code;
  auto* confirm = totp->add_subcommand("confirm", "finish TOTP enrolment with a code");
  confirm->add_option("CODE", code, "code shown by the authenticator app")->required();
  on_run(confirm, chosen, [&g] { return run_totp_confirm(g, code); });
}

void add_user_commands(CLI::App& app, GlobalOptions& g, Action& chosen) {
  static UserAddOptions add;
  static std::string name;
  auto* users = app.add_subcommand("users", "gateway users (local directory; operator)");
  users->require_subcommand(1);
  auto* sub = users->add_subcommand("add", "create a user with an initial password");
  sub->add_option("NAME", add.name, "user name")->required();
  sub->add_option("--roles", add.roles,
                  "roles, comma-separated: requester,approver,auditor,operator")
      ->required();
  sub->add_flag("--password-stdin", add.password_stdin,
                "read the initial password from line 1 of standard input");
  on_run(sub, chosen, [&g] { return run_users_add(g, add); });
  on_run(users->add_subcommand("list", "list users"), chosen, [&g] { return run_users_list(g); });
  sub = users->add_subcommand("disable", "disable a user and revoke their sessions");
  sub->add_option("NAME", name, "user name")->required();
  on_run(sub, chosen, [&g] { return run_users_disable(g, name); });

  static std::string arg;
  auto* keys = app.add_subcommand("keys", "your SSH public keys for gateway login");
  keys->require_subcommand(1);
  sub = keys->add_subcommand("add", "register an OpenSSH public key file");
  sub->add_option("FILE", arg, "public key file (.pub)")->required();
  on_run(sub, chosen, [&g] { return run_keys_add(g, arg); });
  on_run(keys->add_subcommand("list", "list your keys"), chosen, [&g] { return run_keys_list(g); });
  sub = keys->add_subcommand("remove", "remove one of your keys");
  sub->add_option("FINGERPRINT", arg, "SHA256:… as `keys list` shows it")->required();
  on_run(sub, chosen, [&g] { return run_keys_remove(g, arg); });
}

void add_host_commands(CLI::App& app, GlobalOptions& g, Action& chosen) {
  static HostAddOptions add;
  static std::string name;
  auto* hosts = app.add_subcommand("hosts", "managed hosts (operator)");
  hosts->require_subcommand(1);
  auto* sub = hosts->add_subcommand("add", "register a host; the gateway pins its host key");
  sub->add_option("NAME", add.name, "host name used in ACCOUNT@HOST")->required();
  sub->add_option("--address", add.address, "ADDR[:PORT], IPv6 as [ADDR]:PORT")->required();
  sub->add_option("--group", add.group, "host group (for policies)");
  sub->add_option("--protocol", add.protocol, "ssh (default port 22) or rdp (3389)")
      ->check(CLI::IsMember({"ssh", "rdp"}));
  on_run(sub, chosen, [&g] { return run_hosts_add(g, add); });
  on_run(hosts->add_subcommand("list", "list hosts"), chosen, [&g] { return run_hosts_list(g); });
  sub = hosts->add_subcommand("show", "show a host and its accounts");
  sub->add_option("NAME", name, "host name")->required();
  on_run(sub, chosen, [&g] { return run_hosts_show(g, name); });
  sub = hosts->add_subcommand("remove", "remove a host");
  sub->add_option("NAME", name, "host name")->required();
  on_run(sub, chosen, [&g] { return run_hosts_remove(g, name); });

  static AccountAddOptions account;
  auto* accounts = app.add_subcommand("accounts", "privileged accounts on hosts (operator)");
  accounts->require_subcommand(1);
  sub = accounts->add_subcommand("add", "vault the password or private key of ACCOUNT@HOST");
  sub->add_option("TARGET", account.target, "ACCOUNT@HOST (split at the last @)")->required();
  auto* stdin_flag = sub->add_flag("--password-stdin", account.password_stdin,
                                   "read the password from line 1 of standard input");
  sub->add_option("--key", account.key_file, "private key file (0600) instead of a password")
      ->excludes(stdin_flag);
  sub->add_option("--rotate-every", account.rotate_every, "rotation interval, e.g. 30d");
  on_run(sub, chosen, [&g] { return run_accounts_add(g, account); });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sekisho — client of the Sekisho privileged access gateway"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command
  app.set_version_flag("--version", SEKISHO_VERSION);

  GlobalOptions global;
  app.add_option("--server", global.server,
                 "gateway URL (default: the logged-in one, else https://127.0.0.1:8443)")
      ->envname("SEKISHO_SERVER");
  app.add_flag("--json", global.json, "print the server's JSON instead of a table");

  Action chosen;
  add_session_commands(app, global, chosen);
  add_user_commands(app, global, chosen);
  add_host_commands(app, global, chosen);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "sekisho: %s (see sekisho --help)\n", printable(e.what()).c_str());
    return 2;
  }
  if (!chosen) return 2;
  auto result = chosen();
  if (!result) {
    std::fprintf(stderr, "sekisho: %s\n", printable(result.error().message).c_str());
    return 1;
  }
  return 0;
}
