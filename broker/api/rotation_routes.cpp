// Endpoints of password rotation: `rotate` starts a server-side job (operator), `jobs` shows them
// (the caller's own; operators and auditors all), and the accounts' rotation state for `accounts
// list` (operator, auditor). No secret is ever in an answer: an account's current credential is
// shown only as fingerprint8 of it (the first 8 hex of its SHA-256), which tells an auditor that it
// changed and reveals nothing of a generated password.
#include <nlohmann/json.hpp>

#include "broker/api/routes.hpp"
#include "broker/rotation/account_state.hpp"
#include "broker/rotation/rotation_jobs.hpp"
#include "broker/rotation/rotation_service.hpp"
#include "storage/credentials.hpp"
#include "storage/jobs.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;

constexpr int kMaxJobsListed = 100;

Result<void> rotation_available(const ApiContext& ctx) {
  if (ctx.rotation == nullptr || ctx.rotation_jobs == nullptr) {
    return fail(ErrorCode::kUnavailable, "password rotation is not available on this gateway");
  }
  return ok();
}

Result<RotationSelection> selection_from(const json& body) {
  RotationSelection s;
  for (auto [key, field] : {std::pair{"host", &s.host},
                            {"account", &s.account},
                            {"group", &s.group},
                            {"seen_by", &s.seen_by}}) {
    auto value = optional_string_field(body, key, 64);
    if (!value) return tl::make_unexpected(value.error());
    *field = value->value_or("");
  }
  if (body.contains("all") && !body["all"].is_boolean()) {
    return fail(ErrorCode::kInvalidArgument, "all: must be true or false");
  }
  s.all = body.value("all", false);
  const int chosen = (s.host.empty() ? 0 : 1) + (s.all ? 1 : 0) + (s.seen_by.empty() ? 0 : 1);
  if (chosen != 1) {
    return fail(ErrorCode::kInvalidArgument, "give exactly one of host, all or seen_by");
  }
  if (!s.account.empty() && s.host.empty()) {
    return fail(ErrorCode::kInvalidArgument, "account: only with host");
  }
  if (!s.group.empty() && !s.all) return fail(ErrorCode::kInvalidArgument, "group: only with all");
  return s;
}

Result<ApiReply> rotations_start(ApiContext& ctx, ApiRequest& req) {
  if (auto r = rotation_available(ctx); !r) return tl::make_unexpected(r.error());
  auto selection = selection_from(req.body);
  if (!selection) return tl::make_unexpected(selection.error());
  auto id = ctx.rotation_jobs->start(req.caller->user_id, req.caller->name, *selection);
  if (!id) return tl::make_unexpected(id.error());
  return ApiReply{202, {{"job", *id}, {"description", describe(*selection)}}};
}

json job_json(const storage::JobRow& j) {
  json result = json::parse(j.result, nullptr, false);
  return {{"id", j.id},
          {"kind", j.kind},
          {"owner", j.owner},
          {"description", j.description},
          {"state", j.state},
          {"total", j.total},
          {"done", j.done},
          {"failed", j.failed},
          {"created_at", j.created_at},
          {"finished_at", j.finished_at},
          {"result", result.is_discarded() ? json(nullptr) : result}};
}

bool sees_all_jobs(const Caller& c) { return c.has_role("operator") || c.has_role("auditor"); }

Result<ApiReply> jobs_list(ApiContext& ctx, ApiRequest& req) {
  json jobs = json::array();
  const std::optional<std::int64_t> owner =
      sees_all_jobs(*req.caller) ? std::nullopt : std::optional(req.caller->user_id);
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto list = storage::list_jobs(tx, owner, kMaxJobsListed);
    if (!list) return tl::make_unexpected(list.error());
    for (const auto& j : *list) {
      json item = job_json(j);
      item.erase("result");  // per-account outcomes: GET /v1/jobs/ID
      jobs.push_back(std::move(item));
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{200, {{"jobs", jobs}}};
}

Result<ApiReply> jobs_show(ApiContext& ctx, ApiRequest& req) {
  json out;
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto job = storage::find_job(tx, req.path_param);
    if (!job) return tl::make_unexpected(job.error());
    // Another user's job is answered as absent: its existence is not theirs to know.
    if (!job->has_value() ||
        (!sees_all_jobs(*req.caller) && (*job)->owner_id != req.caller->user_id)) {
      return fail(ErrorCode::kNotFound, "no job " + req.path_param);
    }
    out = job_json(**job);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{200, out};
}

json account_json(const storage::AccountRow& a, const std::string& state,
                  const std::optional<TimePoint>& next_due) {
  json checkout = nullptr;
  if (!a.checkout_request.empty()) {
    checkout = {{"request", a.checkout_request},
                {"holder", a.checkout_holder},
                {"until", a.checkout_until}};
  }
  return {{"host", a.host},
          {"account", a.account},
          {"group", a.host_group},
          {"protocol", a.protocol},
          {"kind", a.kind},
          {"state", state},
          {"checkout", checkout},
          {"last_rotated_at", a.last_rotated_at},
          {"next_due", next_due ? json(format_time(*next_due)) : json(nullptr)},
          {"rotation_owed", a.rotation_due},
          {"last_error", a.last_error},
          {"fingerprint", a.fingerprint}};
}

Result<ApiReply> accounts_list(ApiContext& ctx, ApiRequest& req) {
  if (auto r = rotation_available(ctx); !r) return tl::make_unexpected(r.error());
  auto host = query_param(req, "host", 64);
  if (!host) return tl::make_unexpected(host.error());
  auto state = query_param(req, "state", 16);
  if (!state) return tl::make_unexpected(state.error());
  static const std::vector<std::string> kStates{"current", "pending", "unknown", "manual",
                                                "checked-out"};
  if (*state && std::find(kStates.begin(), kStates.end(), **state) == kStates.end()) {
    return fail(ErrorCode::kInvalidArgument,
                "state: must be current, pending, unknown, manual or checked-out");
  }
  json accounts = json::array();
  const TimePoint now = ctx.clock.now();
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    storage::AccountFilter filter;
    filter.host = host->value_or("");
    auto rows = storage::list_account_rows(tx, filter);
    if (!rows) return tl::make_unexpected(rows.error());
    for (const auto& a : *rows) {
      const bool rotatable = ctx.rotation->rotatable(a);
      const std::string shown = display_state(a, rotatable);
      if (*state && shown != **state) continue;
      std::optional<TimePoint> next;
      if (rotatable) {
        next = a.rotation_due.empty() ? next_scheduled_rotation(a, ctx.rotation->settings())
                                      : std::optional(now);
      }
      accounts.push_back(account_json(a, shown, next));
    }
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return ApiReply{200, {{"accounts", accounts}}};
}

}  // namespace

void add_rotation_routes(ApiRouter& router, ApiContext& ctx) {
  auto bind = [&ctx](Result<ApiReply> (*fn)(ApiContext&, ApiRequest&)) {
    return [&ctx, fn](ApiRequest& req) { return fn(ctx, req); };
  };
  router.post("/v1/rotations", Access::roles_of({"operator"}), bind(rotations_start));
  router.get("/v1/jobs", Access::any_user(), bind(jobs_list));
  router.get("/v1/jobs/:name", Access::any_user(), bind(jobs_show));
  router.get("/v1/accounts", Access::roles_of({"operator", "auditor"}), bind(accounts_list));
}

}  // namespace sekisho::broker
