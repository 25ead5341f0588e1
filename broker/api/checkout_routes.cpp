// Endpoints for check-out mode (docs/api.md "Check-out"): the requester of an approved request in
// checkout mode is shown the account's password for the request's window, and hands it back
// early. CheckoutService decides and audits; this file only translates HTTP to calls. The
// check-out answer is the one place a vaulted secret leaves the gateway: it is marked so that no
// cache keeps it and its copy in the reply is wiped once written.
#include "broker/access/checkout_service.hpp"
#include "broker/api/routes.hpp"

namespace sekisho::broker {

namespace {

Result<CheckoutService*> service(ApiContext& ctx) {
  if (ctx.checkouts == nullptr) {
    return fail(ErrorCode::kUnavailable, "check-out is not available on this gateway");
  }
  return ctx.checkouts;
}

// POST /v1/requests/ID/checkout → {password, account, host, until, request, unrotated}.
Result<ApiReply> checkout(ApiContext& ctx, ApiRequest& req) {
  auto svc = service(ctx);
  if (!svc) return tl::make_unexpected(svc.error());
  auto lent = (*svc)->checkout(*req.caller, req.path_param);
  if (!lent) return tl::make_unexpected(lent.error());
  ApiReply reply{200,
                 {{"password", lent->password.view()},
                  {"account", lent->account},
                  {"host", lent->host},
                  {"until", lent->until},
                  {"request", lent->request_id},
                  {"unrotated", lent->unrotated}}};
  reply.secret = true;
  return reply;
}

// POST /v1/requests/ID/checkin → {request, account, host, state: "closed", rotation}.
Result<ApiReply> checkin(ApiContext& ctx, ApiRequest& req) {
  auto svc = service(ctx);
  if (!svc) return tl::make_unexpected(svc.error());
  auto done = (*svc)->checkin(*req.caller, req.path_param);
  if (!done) return tl::make_unexpected(done.error());
  return ApiReply{200,
                  {{"request", done->request_id},
                   {"account", done->account},
                   {"host", done->host},
                   {"state", "closed"},
                   {"rotation", done->rotation}}};
}

}  // namespace

void add_checkout_routes(ApiRouter& router, ApiContext& ctx) {
  auto bind = [&ctx](Result<ApiReply> (*fn)(ApiContext&, ApiRequest&)) {
    return [&ctx, fn](ApiRequest& req) { return fn(ctx, req); };
  };
  // Only the request's requester may check out or in: CheckoutService decides (and audits
  // refusals); the router only requires a logged-in user.
  router.post("/v1/requests/:name/checkout", Access::any_user(), bind(checkout));
  router.post("/v1/requests/:name/checkin", Access::any_user(), bind(checkin));
}

}  // namespace sekisho::broker
