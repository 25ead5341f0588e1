// The API's endpoints (docs/api.md), registered on an ApiRouter.
#pragma once

#include "base/clock.hpp"
#include "broker/access/request_service.hpp"
#include "broker/api/router.hpp"
#include "broker/auth/auth_service.hpp"
#include "broker/ssh/host_key_probe.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"
#include "storage/store.hpp"

namespace sekisho::broker {

class CheckoutService;
class LiveSessions;
class RotationService;
class RotationJobs;

// What the endpoints work with; everything outlives the server.
struct ApiContext {
  storage::Store& store;
  storage::AuditLog& audit;
  AuthService& auth;
  const Clock& clock;
  // The data dir whose recordings/ the session endpoints read; null: those endpoints answer 503.
  const storage::DataDir* data_dir = nullptr;
  // Access requests and grants; null: the request endpoints answer 503.
  RequestService* requests = nullptr;
  // Check-out and check-in of checkout-mode requests; null: those endpoints answer 503 (and a
  // user disable ends no check-outs).
  CheckoutService* checkouts = nullptr;
  // The live sessions of the protocol gateways, for killing them; null when no gateway runs
  // ([ssh] is off: kill answers 503).
  LiveSessions* live_sessions = nullptr;
  // How `hosts add` fetches an SSH host's key (a probe worker); null: adding an SSH host answers
  // 503. Set whether or not [ssh] listens.
  const HostKeyProbe* host_key_probe = nullptr;
  // The PEM of the key that signs recordings and audit checkpoints: the login answer carries it,
  // so the CLI pins it (over the pinned TLS connection) for `sekisho verify`.
  std::string signing_public_pem{};
  // Password rotation: `accounts list` states and schedules, `rotate` jobs; null: those
  // endpoints answer 503.
  RotationService* rotation = nullptr;
  RotationJobs* rotation_jobs = nullptr;
};

// login, logout, whoami, totp, users, keys.
void add_identity_routes(ApiRouter& router, ApiContext& ctx);
// hosts, accounts.
void add_inventory_routes(ApiRouter& router, ApiContext& ctx);
// requests: create, list, show, approve, deny, cancel; the caller's grant.
void add_request_routes(ApiRouter& router, ApiContext& ctx);
// requests/ID/checkout and requests/ID/checkin: lending a password for a request's window.
void add_checkout_routes(ApiRouter& router, ApiContext& ctx);
// sessions: listing, search, replay pages and exports of recordings (auditor); kill of a live
// SSH session (auditor, operator).
void add_session_routes(ApiRouter& router, ApiContext& ctx);
// rotations (operator), jobs (owner; operators and auditors all), the accounts' rotation state
// (operator, auditor).
void add_rotation_routes(ApiRouter& router, ApiContext& ctx);

}  // namespace sekisho::broker
