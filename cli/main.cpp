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
  static std::optional<std::string> current_code;
  auto* enroll =
      totp->add_subcommand("enroll", "start TOTP enrolment: prints the secret for the app");
  enroll->add_option("--current-code", current_code,
                     "a code of the factor enrolled now (needed to replace it)");
  on_run(enroll, chosen, [&g] { return run_totp_enroll(g, current_code); });
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
  sub = users->add_subcommand(
      "disable", "disable a user: end their SSH sessions and requests, revoke their API tokens");
  sub->add_option("NAME", name, "user name")->required();
  on_run(sub, chosen, [&g] { return run_users_disable(g, name); });
  sub = users->add_subcommand("enable", "let a disabled user log in again");
  sub->add_option("NAME", name, "user name")->required();
  on_run(sub, chosen, [&g] { return run_users_enable(g, name); });

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
  sub = hosts->add_subcommand("remove",
                              "remove a host; one with requests or sessions on record is retired");
  sub->add_option("NAME", name, "host name")->required();
  on_run(sub, chosen, [&g] { return run_hosts_remove(g, name); });
  static std::optional<std::string> expect;
  sub = hosts->add_subcommand("repin", "probe a host's SSH key again and pin the new one");
  sub->add_option("NAME", name, "host name")->required();
  sub->add_option(
      "--expect", expect,
      "FINGERPRINT (SHA256:…) verified out of band: pin without asking, refuse another");
  on_run(sub, chosen, [&g] { return run_hosts_repin(g, name, expect); });

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
  static AccountListOptions list;
  sub = accounts->add_subcommand(
      "list", "accounts with their rotation state, schedule and holder (operator, auditor)");
  sub->add_option("--host", list.host, "only accounts on this host");
  sub->add_option("--state", list.state, "only accounts in this state")
      ->check(CLI::IsMember({"current", "pending", "unknown", "manual", "checked-out"}));
  on_run(sub, chosen, [&g] { return run_accounts_list(g, list); });
}

void add_rotation_commands(CLI::App& app, GlobalOptions& g, Action& chosen) {
  static RotateOptions rotate;
  auto* sub =
      app.add_subcommand("rotate", "change vaulted passwords now, as a server-side job (operator)");
  sub->add_option("HOST", rotate.host, "rotate the accounts of this host");
  sub->add_option("--account", rotate.account, "with HOST: only this account");
  sub->add_flag("--all", rotate.all, "rotate every account");
  sub->add_option("--group", rotate.group, "with --all: only hosts of this group");
  sub->add_option("--seen-by", rotate.seen_by, "every account USER ever checked out");
  sub->add_flag("--no-wait", rotate.no_wait, "print the job id and return at once");
  on_run(sub, chosen, [&g] { return run_rotate(g, rotate); });

  static std::optional<std::string> job;
  sub = app.add_subcommand("jobs", "server-side jobs (yours; operators and auditors see all)");
  sub->add_option("ID", job, "show this job with its per-account outcomes");
  on_run(sub, chosen, [&g] { return run_jobs(g, job); });
}

void add_request_commands(CLI::App& app, GlobalOptions& g, Action& chosen) {
  static RequestOptions req;
  auto* sub =
      app.add_subcommand("request", "ask for access to ACCOUNT@HOST; prints the request id");
  sub->add_option("TARGET", req.target, "ACCOUNT@HOST, e.g. root@web01")->required();
  sub->add_option("--reason", req.reason, "why you need it (required)")->required();
  sub->add_option("--ticket", req.ticket, "change or incident ticket id");
  sub->add_option("--duration", req.duration, "length of the window, e.g. 30m, 2h (default 1h)");
  sub->add_option("--mode", req.mode, "session (proxied, recorded) or checkout (password lent)")
      ->check(CLI::IsMember({"session", "checkout"}));
  sub->add_option("--start", req.start, "start of the window: ISO 8601 UTC or 30m from now");
  sub->add_flag("--break-glass", req.break_glass,
                "emergency: open access at once (break-glass members only; reviewed afterwards)");
  on_run(sub, chosen, [&g] { return run_request(g, req); });

  static RequestListOptions list;
  sub = app.add_subcommand("requests", "list requests (yours; approvers and auditors see all)");
  sub->add_flag("--pending", list.pending, "only those waiting for a review");
  sub->add_flag("--mine", list.mine, "only your own");
  on_run(sub, chosen, [&g] { return run_requests(g, list); });

  static std::string id;
  static std::optional<std::string> comment;
  static std::string deny_comment;
  sub = app.add_subcommand("show", "show a request and who approved or denied it");
  sub->add_option("REQUEST", id, "request id")->required();
  on_run(sub, chosen, [&g] { return run_show(g, id); });
  sub = app.add_subcommand("approve", "approve a request (approver; never your own)");
  sub->add_option("REQUEST", id, "request id")->required();
  sub->add_option("--comment", comment, "comment kept with the review");
  on_run(sub, chosen, [&g] { return run_approve(g, id, comment); });
  sub = app.add_subcommand("deny", "deny a request; a single deny ends it (approver)");
  sub->add_option("REQUEST", id, "request id")->required();
  sub->add_option("--comment", deny_comment, "why (required)")->required();
  on_run(sub, chosen, [&g] { return run_deny(g, id, deny_comment); });
  sub = app.add_subcommand("cancel", "withdraw your request before it is used");
  sub->add_option("REQUEST", id, "request id")->required();
  on_run(sub, chosen, [&g] { return run_cancel(g, id); });
  sub = app.add_subcommand(
      "checkout", "show the password of your approved checkout-mode request (stdout, alone)");
  sub->add_option("REQUEST", id, "request id")->required();
  on_run(sub, chosen, [&g] { return run_checkout(g, id); });
  sub =
      app.add_subcommand("checkin", "hand the password back before the window ends; it is rotated");
  sub->add_option("REQUEST", id, "request id")->required();
  on_run(sub, chosen, [&g] { return run_checkin(g, id); });
}

void add_recording_commands(CLI::App& app, GlobalOptions& g, Action& chosen) {
  static SessionListOptions list;
  static std::string text;
  auto* sessions = app.add_subcommand("sessions", "recorded sessions (auditor)");
  sessions->require_subcommand(0, 1);
  sessions->add_option("--user", list.user, "only sessions of this gateway user");
  sessions->add_option("--host", list.host, "only sessions on this host");
  sessions->add_option("--since", list.since, "started since: ISO 8601 time or 30m, 7d …");
  auto* search = sessions->add_subcommand("search", "find where TEXT was shown or typed");
  search->add_option("TEXT", text, "text to find (case-sensitive)")->required();
  on_run(search, chosen, [&g] { return run_sessions_search(g, text); });
  static std::string kill_id, kill_reason;
  auto* kill_cmd =
      sessions->add_subcommand("kill", "end a live SSH session now (auditor, operator)");
  kill_cmd->add_option("ID", kill_id, "session id")->required();
  kill_cmd->add_option("--reason", kill_reason, "why (required; the user sees it)")->required();
  on_run(kill_cmd, chosen, [&g] { return run_sessions_kill(g, kill_id, kill_reason); });
  // CLI11 runs the parent's callback after the subcommand's: keep the subcommand when one was
  // given.
  sessions->callback([&chosen, &g, search, kill_cmd] {
    if (!search->parsed() && !kill_cmd->parsed()) {
      chosen = [&g] { return run_sessions_list(g, list); };
    }
  });

  static ReplayOptions replay;
  auto* sub = app.add_subcommand("replay", "play a recorded session in the terminal (auditor)");
  sub->add_option("ID", replay.id, "session id")->required();
  sub->add_option("--speed", replay.speed, "playback speed factor (default 1)");
  sub->add_option("--from", replay.from, "start at this offset: 90, 12.5, 10m, mm:ss");
  sub->add_option("--idle-limit", replay.idle_limit, "longest pause shown: 2, 0.5, 2s");
  on_run(sub, chosen, [&g] { return run_replay(g, replay); });

  static ExportOptions exported;
  sub = app.add_subcommand("export", "write a recording to a file (auditor)");
  sub->add_option("ID", exported.id, "session id")->required();
  sub->add_option("--format", exported.format, "asciicast or skr (png, mp4: RDP, later)")
      ->required()
      ->check(CLI::IsMember({"asciicast", "skr", "png", "mp4"}));
  sub->add_option("--out", exported.out, "file to write (default: standard output)");
  on_run(sub, chosen, [&g] { return run_export(g, exported); });

  static VerifyOptions verify;
  sub = app.add_subcommand("verify", "check a .skr recording offline: chain and signature");
  sub->add_option("FILE", verify.file, "recording file (.skr)")->required();
  sub->add_option("--public-key", verify.public_key,
                  "the gateway's signing.pub (PEM), to check who signed");
  on_run(sub, chosen, [&g] { return run_verify(g, verify); });
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
  add_request_commands(app, global, chosen);
  add_recording_commands(app, global, chosen);
  add_rotation_commands(app, global, chosen);

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
