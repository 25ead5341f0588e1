#include "broker/api/server.hpp"

#include <httplib.h>
#include <openssl/ssl.h>

#include <nlohmann/json.hpp>

#include "base/logging.hpp"
#include "broker/api/connection.hpp"
#include "broker/api/listener.hpp"

namespace sekisho::broker {

namespace {

constexpr char kJson[] = "application/json";

std::string status_error_name(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 431:
      return "headers_too_large";
    default:
      return status >= 500 ? "internal" : "error";
  }
}

void json_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", status_error_name(status)}, {"message", message}}.dump(),
                  kJson);
}

// The gateway's certificate and key (ECDSA P-256 PEM from init) in a TLS 1.2+ server context.
SSL_CTX* load_tls_identity(const storage::DataDir& dir) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx, dir.tls_certificate().c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, dir.tls_key().c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

void ApiServer::TlsContextFree::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }

ApiServer::~ApiServer() = default;

Result<std::unique_ptr<ApiServer>> ApiServer::create(const storage::DataDir& dir,
                                                     const Config& config, ApiContext& ctx) {
  std::unique_ptr<ApiServer> api(new ApiServer());
  api->tls_.reset(load_tls_identity(dir));
  if (!api->tls_) {
    return fail(ErrorCode::kIo, "cannot load the TLS identity " + dir.tls_certificate().string() +
                                    " / " + dir.tls_key().string());
  }
  api->server_ = std::make_unique<ApiRequestProcessor>();
  api->add_routes(config, ctx);
  ApiListenerLimits limits;
  limits.max_connections_per_source = config.api_max_connections_per_source;
  limits.handshake_timeout = config.api_handshake_timeout;
  limits.max_body_bytes = config.api_max_body_bytes;
  api->listener_ = std::make_unique<ApiListener>(api->tls_.get(), *api->server_, limits);
  return api;
}

void ApiServer::add_routes(const Config& config, ApiContext& ctx) {
  auto log = module_logger("api");
  server_->set_payload_max_length(config.api_max_body_bytes);
  // Read and keep-alive timeouts are ApiListener's: httplib only sees whole requests in memory.
  server_->set_keep_alive_timeout(5);

  server_->Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(nlohmann::json{{"status", "ok"}, {"version", SEKISHO_VERSION}}.dump(), kJson);
  });

  router_ = std::make_unique<ApiRouter>(*server_, ctx.auth, ctx.audit);
  add_identity_routes(*router_, ctx);
  add_inventory_routes(*router_, ctx);
  add_request_routes(*router_, ctx);
  add_checkout_routes(*router_, ctx);
  add_session_routes(*router_, ctx);
  add_rotation_routes(*router_, ctx);

  // Routes that set no body of their own (404, 413, …) still answer in the one JSON error shape.
  server_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string message =
        res.status == 404 ? "no such endpoint: " + req.path.substr(0, 200) : "request refused";
    json_error(res, res.status, message);
  });
  server_->set_exception_handler(
      [log](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          log->error("{} {}: internal error: {}", req.method, req.path.substr(0, 200), e.what());
        } catch (...) {
          log->error("{} {}: internal error", req.method, req.path.substr(0, 200));
        }
        json_error(res, 500, "internal error");
      });
  server_->set_logger([log](const httplib::Request& req, const httplib::Response& res) {
    // Paths and statuses only: bodies and headers may carry passwords and tokens.
    log->info("{} {} {} from {}", req.method, req.path.substr(0, 200), res.status, req.remote_addr);
  });
}

Result<int> ApiServer::bind(const ListenAddress& address) {
  auto port = listener_->bind(address);
  if (port) server_->set_listening_socket(listener_->socket());
  return port;
}

bool ApiServer::run() { return listener_->run(); }

void ApiServer::stop() {
  server_->set_listening_socket(INVALID_SOCKET);  // downloads in progress end
  listener_->stop();
}

}  // namespace sekisho::broker
