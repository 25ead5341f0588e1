// The API's endpoints (docs/api.md), registered on an ApiRouter.
#pragma once

#include "base/clock.hpp"
#include "broker/api_router.hpp"
#include "broker/auth_service.hpp"
#include "storage/audit_log.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

// What the endpoints work with; everything outlives the server.
struct ApiContext {
  storage::Store& store;
  storage::AuditLog& audit;
  AuthService& auth;
  const Clock& clock;
};

// login, logout, whoami, totp, users, keys.
void add_identity_routes(ApiRouter& router, ApiContext& ctx);
// hosts, accounts.
void add_inventory_routes(ApiRouter& router, ApiContext& ctx);

}  // namespace sekisho::broker
