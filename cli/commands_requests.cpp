// request, requests, show, approve, deny, cancel: the approval workflow from the terminal.
#include <iostream>

#include "base/clock.hpp"
#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace sekisho::cli {

namespace {

// "now", an ISO 8601 time, or a relative time from now ("30m", "2h").
Result<std::string> absolute_time(const std::string& text) {
  if (auto d = parse_duration(text)) return format_time(SystemClock().now() + *d);
  auto t = parse_time(text);
  if (!t) {
    return fail(ErrorCode::kInvalidArgument,
                "--start: not a time (ISO 8601 UTC like 2026-11-26T18:00:00Z, or 30m, 2h): '" +
                    text.substr(0, 40) + "'");
  }
  return format_time(*t);
}

Result<void> check_request_id(const std::string& id) {
  if (id.empty() || id.size() > 64 ||
      id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
          std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "not a request id: '" + id.substr(0, 64) + "'");
  }
  return ok();
}

// What the STATE column shows: the state, plus what still needs doing.
std::string state_of(const nlohmann::json& r) {
  std::string state = cell(r, "state");
  if (r.value("break_glass", false)) state += " (break-glass)";
  if (r.value("review_overdue", false)) state += ", review overdue";
  if (state == "pending") {
    state += " " + cell(r, "approvals") + "/" + cell(r, "approvals_needed");
  }
  return state;
}

void print_request(const nlohmann::json& r) {
  std::vector<std::vector<std::string>> rows{
      {"requester", cell(r, "requester")}, {"target", cell(r, "target")},
      {"mode", cell(r, "mode")},           {"state", state_of(r)},
      {"reason", cell(r, "reason")},
  };
  if (!cell(r, "ticket").empty()) rows.push_back({"ticket", cell(r, "ticket")});
  rows.push_back({"window", cell(r, "start") + " → " + cell(r, "end")});
  rows.push_back({"approvals", cell(r, "approvals") + " of " + cell(r, "approvals_needed") +
                                   " (policy " + cell(r, "policy") + ")"});
  rows.push_back({"created", cell(r, "created_at")});
  std::cout << format_table({"request", cell(r, "id")}, rows);
  std::vector<std::vector<std::string>> reviews;
  for (const auto& rv : r.value("reviews", nlohmann::json::array())) {
    reviews.push_back(
        {cell(rv, "reviewer"), cell(rv, "decision"), cell(rv, "at"), cell(rv, "comment")});
  }
  if (reviews.empty()) {
    std::cout << "\nno reviews yet" << std::endl;
  } else {
    std::cout << "\n" << format_table({"REVIEWER", "DECISION", "AT", "COMMENT"}, reviews);
  }
}

Result<void> post_review(const GlobalOptions& global, const std::string& id,
                         const std::string& verb, const std::optional<std::string>& comment) {
  if (auto r = check_request_id(id); !r) return r;
  nlohmann::json body = nlohmann::json::object();
  if (comment) body["comment"] = *comment;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto reply = (*gateway)->post("/v1/requests/" + id + "/" + verb, body);
  if (!reply) return tl::make_unexpected(reply.error());
  if (global.json) {
    print_json(*reply);
  } else {
    std::cout << "request " << printable(id) << ": " << state_of(*reply) << std::endl;
  }
  return ok();
}

}  // namespace

Result<void> run_request(const GlobalOptions& global, const RequestOptions& options) {
  nlohmann::json body = {{"target", options.target},
                         {"reason", options.reason},
                         {"mode", options.mode},
                         {"break_glass", options.break_glass}};
  if (options.ticket) body["ticket"] = *options.ticket;
  if (options.duration) body["duration"] = *options.duration;
  if (options.start) {
    auto start = absolute_time(*options.start);
    if (!start) return tl::make_unexpected(start.error());
    body["start"] = *start;
  }
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto reply = (*gateway)->post("/v1/requests", body);
  if (!reply) return tl::make_unexpected(reply.error());
  if (global.json) {
    print_json(*reply);
  } else if (reply->value("break_glass", false)) {
    std::cout << cell(*reply, "id") << std::endl;
    std::cerr << "break-glass: access is open until " << cell(*reply, "end")
              << "; every approver has been notified and must review it" << std::endl;
  } else {
    // The id alone on stdout, so that scripts can capture it.
    std::cout << cell(*reply, "id") << std::endl;
  }
  return ok();
}

Result<void> run_requests(const GlobalOptions& global, const RequestListOptions& options) {
  std::string path = "/v1/requests";
  std::string sep = "?";
  if (options.pending) {
    path += sep + "pending=true";
    sep = "&";
  }
  if (options.mine) path += sep + "mine=true";
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->get(path);
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : body->value("requests", nlohmann::json::array())) {
    rows.push_back({cell(r, "id"), cell(r, "requester"), cell(r, "target"), cell(r, "mode"),
                    state_of(r), cell(r, "end"), cell(r, "reason")});
  }
  if (rows.empty()) {
    std::cout << "no requests" << std::endl;
  } else {
    std::cout << format_table({"ID", "REQUESTER", "TARGET", "MODE", "STATE", "UNTIL", "REASON"},
                              rows);
  }
  return ok();
}

Result<void> run_show(const GlobalOptions& global, const std::string& id) {
  if (auto r = check_request_id(id); !r) return r;
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->get("/v1/requests/" + id);
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
  } else {
    print_request(*body);
  }
  return ok();
}

Result<void> run_approve(const GlobalOptions& global, const std::string& id,
                         const std::optional<std::string>& comment) {
  return post_review(global, id, "approve", comment);
}

Result<void> run_deny(const GlobalOptions& global, const std::string& id,
                      const std::string& comment) {
  return post_review(global, id, "deny", comment);
}

Result<void> run_cancel(const GlobalOptions& global, const std::string& id) {
  return post_review(global, id, "cancel", std::nullopt);
}

}  // namespace sekisho::cli
