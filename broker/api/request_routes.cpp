// Endpoints for access requests (docs/api.md "Requests"): requesters ask, approvers review,
// everyone reads what they may see. The rules are RequestService's and approval/'s; this file only
// translates HTTP to calls.
#include "broker/api/routes.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;

json request_json(const RequestView& v) {
  const auto& r = v.row;
  json reviews = json::array();
  for (const auto& rv : v.reviews) {
    reviews.push_back({{"reviewer", rv.reviewer},
                       {"decision", rv.decision},
                       {"comment", rv.comment},
                       {"at", rv.created_at}});
  }
  return {{"id", r.id},
          {"requester", r.requester},
          {"target", r.account + "@" + r.host},
          {"account", r.account},
          {"host", r.host},
          {"mode", r.mode},
          {"reason", r.reason},
          {"ticket", r.ticket ? json(*r.ticket) : json(nullptr)},
          {"state", approval::to_string(v.status.state)},
          {"break_glass", r.break_glass},
          {"review_overdue", v.status.review_overdue},
          {"approvals", v.status.approvals},
          {"approvals_needed", v.status.approvals_needed},
          {"policy", r.policy},
          {"start", r.start_at},
          {"end", r.end_at},
          {"created_at", r.created_at},
          {"reviews", reviews}};
}

Result<RequestService*> service(ApiContext& ctx) {
  if (ctx.requests == nullptr) {
    return fail(ErrorCode::kUnavailable, "requests are not available on this gateway");
  }
  return ctx.requests;
}

Result<bool> bool_field(const json& body, const std::string& key) {
  if (!body.contains(key) || body[key].is_null()) return false;
  if (!body[key].is_boolean())
    return fail(ErrorCode::kInvalidArgument, key + ": must be a boolean");
  return body[key].get<bool>();
}

Result<CreateRequest> create_from_body(const json& body) {
  CreateRequest in;
  auto target = string_field(body, "target", 200);
  if (!target) return tl::make_unexpected(target.error());
  in.target = *target;
  auto reason = string_field(body, "reason", approval::kMaxReasonLength);
  if (!reason) return tl::make_unexpected(reason.error());
  in.reason = *reason;
  auto ticket = optional_string_field(body, "ticket", approval::kMaxTicketLength);
  if (!ticket) return tl::make_unexpected(ticket.error());
  in.ticket = *ticket;
  auto duration = optional_string_field(body, "duration", 12);
  if (!duration) return tl::make_unexpected(duration.error());
  if (*duration) {
    auto d = parse_duration(**duration);
    if (!d) return fail(ErrorCode::kInvalidArgument, "duration: " + d.error().message);
    in.duration = *d;
  }
  auto mode = optional_string_field(body, "mode", 16);
  if (!mode) return tl::make_unexpected(mode.error());
  if (*mode) {
    auto m = approval::parse_mode(**mode);
    if (!m) return tl::make_unexpected(m.error());
    in.mode = *m;
  }
  auto start = optional_string_field(body, "start", 40);
  if (!start) return tl::make_unexpected(start.error());
  if (*start) {
    auto t = parse_time(**start);
    if (!t) return fail(ErrorCode::kInvalidArgument, "start: " + t.error().message);
    in.start = *t;
  }
  auto break_glass = bool_field(body, "break_glass");
  if (!break_glass) return tl::make_unexpected(break_glass.error());
  in.break_glass = *break_glass;
  return in;
}

Result<ApiReply> requests_create(ApiContext& ctx, ApiRequest& req) {
  auto svc = service(ctx);
  if (!svc) return tl::make_unexpected(svc.error());
  auto in = create_from_body(req.body);
  if (!in) return tl::make_unexpected(in.error());
  auto view = (*svc)->create(*req.caller, *in);
  if (!view) return tl::make_unexpected(view.error());
  return ApiReply{201, request_json(*view)};
}

Result<ApiReply> requests_list(ApiContext& ctx, ApiRequest& req) {
  auto svc = service(ctx);
  if (!svc) return tl::make_unexpected(svc.error());
  auto flag = [&](const char* key) -> Result<bool> {
    auto v = query_param(req, key, 5);
    if (!v) return tl::make_unexpected(v.error());
    if (!v->has_value()) return false;
    if (**v == "1" || **v == "true") return true;
    if (**v == "0" || **v == "false") return false;
    return fail(ErrorCode::kInvalidArgument, std::string(key) + ": must be true or false");
  };
  auto pending = flag("pending");
  if (!pending) return tl::make_unexpected(pending.error());
  auto mine = flag("mine");
  if (!mine) return tl::make_unexpected(mine.error());
  auto list = (*svc)->list(*req.caller, *pending, *mine);
  if (!list) return tl::make_unexpected(list.error());
  json out = json::array();
  for (const auto& v : *list) out.push_back(request_json(v));
  return ApiReply{200, {{"requests", out}}};
}

Result<ApiReply> requests_show(ApiContext& ctx, ApiRequest& req) {
  auto svc = service(ctx);
  if (!svc) return tl::make_unexpected(svc.error());
  auto view = (*svc)->show(*req.caller, req.path_param);
  if (!view) return tl::make_unexpected(view.error());
  return ApiReply{200, request_json(*view)};
}

Result<ApiReply> review(ApiContext& ctx, ApiRequest& req, approval::Decision decision) {
  auto svc = service(ctx);
  if (!svc) return tl::make_unexpected(svc.error());
  auto comment = optional_string_field(req.body, "comment", 1000);
  if (!comment) return tl::make_unexpected(comment.error());
  auto view = (*svc)->review(*req.caller, req.path_param, decision, comment->value_or(""));
  if (!view) return tl::make_unexpected(view.error());
  return ApiReply{200, request_json(*view)};
}

Result<ApiReply> requests_approve(ApiContext& ctx, ApiRequest& req) {
  return review(ctx, req, approval::Decision::kApprove);
}

Result<ApiReply> requests_deny(ApiContext& ctx, ApiRequest& req) {
  return review(ctx, req, approval::Decision::kDeny);
}

Result<ApiReply> requests_cancel(ApiContext& ctx, ApiRequest& req) {
  auto svc = service(ctx);
  if (!svc) return tl::make_unexpected(svc.error());
  auto view = (*svc)->cancel(*req.caller, req.path_param);
  if (!view) return tl::make_unexpected(view.error());
  return ApiReply{200, request_json(*view)};
}

// GET /v1/grant?target=ACCOUNT@HOST&mode=session: the caller's own grant. The gateways ask
// RequestService directly; this endpoint lets a user (and the tests) see what they would get.
Result<ApiReply> grant_show(ApiContext& ctx, ApiRequest& req) {
  auto svc = service(ctx);
  if (!svc) return tl::make_unexpected(svc.error());
  auto target = query_param(req, "target", 200);
  if (!target) return tl::make_unexpected(target.error());
  if (!target->has_value()) return fail(ErrorCode::kInvalidArgument, "target: required");
  auto parts = split_target(**target);
  if (!parts) return tl::make_unexpected(parts.error());
  auto mode_text = query_param(req, "mode", 16);
  if (!mode_text) return tl::make_unexpected(mode_text.error());
  auto mode = approval::parse_mode(mode_text->value_or("session"));
  if (!mode) return tl::make_unexpected(mode.error());
  auto grant = (*svc)->grant(req.caller->user_id, parts->first, parts->second, *mode);
  if (!grant) return tl::make_unexpected(grant.error());
  if (!grant->has_value()) {
    return ApiReply{200, {{"granted", false}, {"target", **target}}};
  }
  return ApiReply{200,
                  {{"granted", true},
                   {"target", **target},
                   {"request", (*grant)->request_id},
                   {"end", format_time((*grant)->end)}}};
}

}  // namespace

void add_request_routes(ApiRouter& router, ApiContext& ctx) {
  auto bind = [&ctx](Result<ApiReply> (*fn)(ApiContext&, ApiRequest&)) {
    return [&ctx, fn](ApiRequest& req) { return fn(ctx, req); };
  };
  // Who may request, approve or cancel depends on the policy and the request: RequestService
  // decides (and audits refusals); the router only requires a logged-in user.
  router.post("/v1/requests", Access::any_user(), bind(requests_create));
  router.get("/v1/requests", Access::any_user(), bind(requests_list));
  router.get("/v1/requests/:name", Access::any_user(), bind(requests_show));
  router.post("/v1/requests/:name/approve", Access::any_user(), bind(requests_approve));
  router.post("/v1/requests/:name/deny", Access::any_user(), bind(requests_deny));
  router.post("/v1/requests/:name/cancel", Access::any_user(), bind(requests_cancel));
  router.get("/v1/grant", Access::any_user(), bind(grant_show));
}

}  // namespace sekisho::broker
