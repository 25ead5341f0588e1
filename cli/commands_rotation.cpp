// rotate (server-side jobs, polled), jobs, accounts list.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace sekisho::cli {

namespace {

using nlohmann::json;

// How often `rotate` asks for its job's progress, and how many polls in a row may fail (the
// gateway restarting, a network blip) before it stops waiting. The job itself runs on.
constexpr std::chrono::milliseconds kPollInterval{500};
constexpr int kMaxFailedPolls = 20;

int number(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

void print_outcomes(const json& job) {
  std::vector<std::vector<std::string>> rows;
  const json result = job.value("result", json::object());
  if (result.is_object()) {
    for (const auto& a : result.value("accounts", json::array())) {
      rows.push_back(
          {cell(a, "account") + "@" + cell(a, "host"), cell(a, "outcome"), cell(a, "message")});
    }
  }
  if (!rows.empty()) std::cout << format_table({"ACCOUNT", "OUTCOME", "MESSAGE"}, rows);
}

// The finished job's outcome: an Error naming the job when any account failed or the job did
// not finish, so that the exit code says so.
Result<void> job_verdict(const json& job) {
  const std::string id = cell(job, "id");
  const std::string state = cell(job, "state");
  const int failed = number(job, "failed");
  if (state == "interrupted") {
    return fail(ErrorCode::kUnavailable, "job " + id +
                                             " was interrupted (the gateway stopped); "
                                             "its rotations are still owed and will be done");
  }
  if (failed > 0) {
    return fail(ErrorCode::kInternal, std::to_string(failed) + " of " +
                                          std::to_string(number(job, "total")) +
                                          " rotations failed (job " + id + ")");
  }
  return ok();
}

// Polls job `id` until it ends, drawing a progress line on stderr when that is a terminal.
Result<json> wait_for_job(Gateway& gateway, const std::string& id) {
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  int failed_polls = 0;
  for (;;) {
    auto job = gateway.get("/v1/jobs/" + id);
    if (!job) {
      // An answer of the gateway (not found, forbidden, logged out) will not change by asking
      // again; only a connection that failed is retried.
      const ErrorCode code = job.error().code;
      const bool transient = code == ErrorCode::kUnavailable || code == ErrorCode::kIo;
      if (!transient || ++failed_polls >= kMaxFailedPolls) {
        return fail(job.error().code, job.error().message + " (job " + id +
                                          " runs on; see: sekisho jobs " + id + ")");
      }
    } else {
      failed_polls = 0;
      if (tty) {
        std::fprintf(stderr, "\rrotating: %d/%d done, %d failed", number(*job, "done"),
                     number(*job, "total"), number(*job, "failed"));
        std::fflush(stderr);
      }
      if (cell(*job, "state") != "running") {
        if (tty) std::fputs("\n", stderr);
        return job;
      }
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace

Result<void> run_rotate(const GlobalOptions& global, const RotateOptions& options) {
  json request = json::object();
  const int chosen = (options.host ? 1 : 0) + (options.all ? 1 : 0) + (options.seen_by ? 1 : 0);
  if (chosen != 1) {
    return fail(ErrorCode::kInvalidArgument, "give exactly one of HOST, --all or --seen-by");
  }
  if (options.account && !options.host) {
    return fail(ErrorCode::kInvalidArgument, "--account needs HOST");
  }
  if (options.group && !options.all)
    return fail(ErrorCode::kInvalidArgument, "--group needs --all");
  if (options.host) {
    if (auto r = check_path_name("host name", *options.host); !r) return r;
    request["host"] = *options.host;
    if (options.account) request["account"] = *options.account;
  } else if (options.all) {
    request["all"] = true;
    if (options.group) request["group"] = *options.group;
  } else {
    request["seen_by"] = *options.seen_by;
  }
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto started = (*gateway)->post("/v1/rotations", request);
  if (!started) return tl::make_unexpected(started.error());
  const std::string id = cell(*started, "job");
  if (options.no_wait) {
    if (global.json) {
      print_json(*started);
    } else {
      std::cout << printable(id) << std::endl;
    }
    return ok();
  }
  if (auto r = check_path_name("job id", id); !r) return r;
  auto job = wait_for_job(**gateway, id);
  if (!job) return tl::make_unexpected(job.error());
  if (global.json) {
    print_json(*job);
  } else {
    print_outcomes(*job);
  }
  return job_verdict(*job);
}

Result<void> run_jobs(const GlobalOptions& global, const std::optional<std::string>& id) {
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  if (id) {
    if (auto r = check_path_name("job id", *id); !r) return r;
    auto job = (*gateway)->get("/v1/jobs/" + *id);
    if (!job) return tl::make_unexpected(job.error());
    if (global.json) {
      print_json(*job);
      return ok();
    }
    std::cout << format_table({"job", cell(*job, "id")},
                              {{"what", cell(*job, "description")},
                               {"owner", cell(*job, "owner")},
                               {"state", cell(*job, "state")},
                               {"progress", cell(*job, "done") + "/" + cell(*job, "total") +
                                                " done, " + cell(*job, "failed") + " failed"},
                               {"created", cell(*job, "created_at")},
                               {"finished", cell(*job, "finished_at")}});
    std::cout << "\n";
    print_outcomes(*job);
    return ok();
  }
  auto body = (*gateway)->get("/v1/jobs");
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& j : body->value("jobs", json::array())) {
    rows.push_back(
        {cell(j, "id"), cell(j, "state"),
         cell(j, "done") + "/" + cell(j, "total") + " (" + cell(j, "failed") + " failed)",
         cell(j, "owner"), cell(j, "created_at"), cell(j, "description")});
  }
  std::cout << format_table({"JOB", "STATE", "PROGRESS", "OWNER", "CREATED", "WHAT"}, rows);
  return ok();
}

Result<void> run_accounts_list(const GlobalOptions& global, const AccountListOptions& options) {
  std::string query;
  if (options.host) {
    if (auto r = check_path_name("host name", *options.host); !r) return r;
    query += "host=" + *options.host;
  }
  if (options.state) query += (query.empty() ? "" : "&") + std::string("state=") + *options.state;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->get("/v1/accounts" + (query.empty() ? "" : "?" + query));
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : body->value("accounts", json::array())) {
    std::string state = cell(a, "state");
    if (const auto c = a.find("checkout"); c != a.end() && c->is_object()) {
      state += " (" + cell(*c, "holder") + " until " + cell(*c, "until") + ")";
    }
    rows.push_back({cell(a, "account") + "@" + cell(a, "host"), cell(a, "kind"), state,
                    cell(a, "last_rotated_at"), cell(a, "next_due"), cell(a, "fingerprint"),
                    cell(a, "last_error")});
  }
  std::cout << format_table(
      {"ACCOUNT", "KIND", "STATE", "LAST ROTATED", "NEXT DUE", "FINGERPRINT", "LAST ERROR"}, rows);
  return ok();
}

}  // namespace sekisho::cli
