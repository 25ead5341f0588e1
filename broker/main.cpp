// sekishod: the gateway daemon. Parses arguments and calls into the broker library.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/core_dumps.hpp"
#include "base/logging.hpp"
#include "broker/daemon/config.hpp"
#include "broker/daemon/init.hpp"
#include "broker/daemon/offline.hpp"
#include "broker/daemon/record_demo.hpp"
#include "broker/daemon/serve.hpp"

namespace {

using namespace sekisho;

int failed(const Error& e) {
  std::fprintf(stderr, "sekishod: %s\n", e.message.c_str());
  return 1;
}

int run_init(const std::string& dir, const std::string& operator_name, bool json) {
  const SystemClock clock;
  auto r = broker::init_data_dir(dir, operator_name, clock);
  if (!r) return failed(r.error());
  if (json) {
    nlohmann::json out = {{"data_dir", r->data_dir.string()},
                          {"operator", r->operator_name},
                          {"one_time_password", std::string(r->one_time_password.view())},
                          {"ssh_host_key_fingerprint", r->ssh_host_key_fingerprint},
                          {"tls_certificate_fingerprint", r->tls_fingerprint}};
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  std::cout << "Sekisho data dir created: " << r->data_dir.string() << "\n"
            << "  operator:             " << r->operator_name << "\n"
            << "  one-time password:    " << r->one_time_password.view()
            << "   (shown once; a new one is required at first login)\n"
            << "  SSH host key:         " << r->ssh_host_key_fingerprint << "\n"
            << "  TLS certificate:      " << r->tls_fingerprint << "\n"
            << "Start it with: sekishod serve --data-dir " << r->data_dir.string() << std::endl;
  return 0;
}

int run_serve(const std::string& dir, const std::optional<std::string>& config_path) {
  auto config = config_path ? broker::load_config(*config_path) : broker::Config{};
  if (!config) return failed(config.error());
  setup_logging(config->log_format, config->log_level);
  auto r = broker::serve(dir, *config);
  if (!r) {
    module_logger("gateway")->error("{}", r.error().message);
    return 1;
  }
  return 0;
}

int run_audit_verify(const std::string& dir, const std::optional<std::string>& public_key,
                     bool json) {
  std::optional<std::filesystem::path> key;
  if (public_key) key = *public_key;
  auto report = broker::verify_audit(dir, key);
  if (!report) return failed(report.error());
  if (json) {
    std::cout << nlohmann::json{{"ok", report->ok},
                                {"events", report->events},
                                {"checkpoints_matched", report->checkpoints_matched},
                                {"first_bad_seq", report->first_bad_seq},
                                {"problem", report->problem}}
                     .dump(2)
              << std::endl;
  } else if (report->ok) {
    std::cout << "audit chain intact: " << report->events << " events, "
              << report->checkpoints_matched << " signed checkpoints matched" << std::endl;
  }
  if (!report->ok) {
    std::fprintf(stderr, "sekishod: audit chain BROKEN: %s\n", report->problem.c_str());
    return 1;
  }
  return 0;
}

int run_record_demo(const broker::RecordDemoOptions& options) {
  auto r = broker::record_demo(options);
  if (!r) return failed(r.error());
  std::cout << r->session_id << std::endl;
  std::fprintf(stderr, "sekishod: session %s recorded (%s; %llu bytes, hash %s)\n",
               r->session_id.c_str(), r->end_reason.c_str(),
               static_cast<unsigned long long>(r->summary.size_bytes),
               r->summary.final_hash.c_str());
  return 0;
}

// Hidden until the SSH gateway records real sessions: tests and demos make recordings with it.
CLI::App* add_record_demo(CLI::App& app, broker::RecordDemoOptions& demo) {
  auto* sub = app.add_subcommand(
      "record-demo",
      "record COMMAND in a pty as a session of USER on ACCOUNT@HOST (gateway stopped)");
  sub->group("");
  sub->add_option("--data-dir", demo.data_dir, "data directory")->required();
  sub->add_option("--user", demo.user, "gateway user the session belongs to")->required();
  sub->add_option("--target", demo.target, "ACCOUNT@HOST")->required();
  sub->add_option("--request", demo.request_id, "request id the session runs under");
  sub->add_option("--cols", demo.cols, "terminal columns")->capture_default_str();
  sub->add_option("--rows", demo.rows, "terminal rows")->capture_default_str();
  sub->add_option("COMMAND", demo.command, "command and arguments, after --")->required();
  return sub;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything reads a key, a password or the store: no core file, no same-user ptrace.
  if (auto r = sekisho::forbid_core_dumps(); !r) return failed(r.error());
  CLI::App app{"sekishod — Sekisho privileged access gateway daemon"};
  app.require_subcommand(1);
  app.set_version_flag("--version", SEKISHO_VERSION);

  std::string data_dir;
  std::string operator_name = "admin";
  bool json = false;
  std::optional<std::string> config_path;
  std::optional<std::string> public_key;

  auto* init =
      app.add_subcommand("init", "create a data dir: store, keys, certificate, first operator");
  init->add_option("--data-dir", data_dir, "data directory to create")->required();
  init->add_option("--operator", operator_name, "name of the first operator")
      ->capture_default_str();
  init->add_flag("--json", json, "print the result as JSON (for scripts)");

  auto* serve = app.add_subcommand("serve", "run the gateway");
  serve->add_option("--data-dir", data_dir, "data directory made by init")->required();
  serve->add_option("--config", config_path, "TOML configuration file");

  auto* rekey = app.add_subcommand("rekey", "rotate the store's master key (gateway stopped)");
  rekey->add_option("--data-dir", data_dir, "data directory")->required();

  auto* audit = app.add_subcommand("audit", "audit log tools");
  audit->require_subcommand(1);
  auto* verify =
      audit->add_subcommand("verify", "verify the audit hash chain and checkpoints offline");
  verify->add_option("--data-dir", data_dir, "data directory")->required();
  verify->add_option("--public-key", public_key,
                     "signing public key (PEM) kept outside the data dir");
  verify->add_flag("--json", json, "print the report as JSON");

  broker::RecordDemoOptions demo;
  auto* record_demo = add_record_demo(app, demo);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "sekishod: %s (see sekishod --help)\n", e.what());
    return 2;
  }

  if (*init) return run_init(data_dir, operator_name, json);
  if (*serve) return run_serve(data_dir, config_path);
  if (*rekey) {
    auto r = broker::rekey(data_dir);
    if (!r) return failed(r.error());
    std::cout << "master key rotated for " << data_dir << std::endl;
    return 0;
  }
  if (*verify) return run_audit_verify(data_dir, public_key, json);
  if (*record_demo) return run_record_demo(demo);
  return 2;
}
