#include "broker/api_server.hpp"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "base/logging.hpp"

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

}  // namespace

ApiServer::ApiServer(std::unique_ptr<httplib::SSLServer> server) : server_(std::move(server)) {}
ApiServer::~ApiServer() = default;

Result<std::unique_ptr<ApiServer>> ApiServer::create(const storage::DataDir& dir,
                                                     const Config& config, ApiContext& ctx) {
  auto server =
      std::make_unique<httplib::SSLServer>(dir.tls_certificate().c_str(), dir.tls_key().c_str());
  if (!server->is_valid()) {
    return fail(ErrorCode::kIo, "cannot load the TLS identity " + dir.tls_certificate().string() +
                                    " / " + dir.tls_key().string());
  }
  std::unique_ptr<ApiServer> api(new ApiServer(std::move(server)));
  api->add_routes(config, ctx);
  return api;
}

void ApiServer::add_routes(const Config& config, ApiContext& ctx) {
  auto log = module_logger("api");
  server_->set_payload_max_length(config.api_max_body_bytes);
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(10, 0);
  server_->set_keep_alive_timeout(5);

  server_->Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(nlohmann::json{{"status", "ok"}, {"version", SEKISHO_VERSION}}.dump(), kJson);
  });

  router_ = std::make_unique<ApiRouter>(*server_, ctx.auth, ctx.audit);
  add_identity_routes(*router_, ctx);
  add_inventory_routes(*router_, ctx);
  add_request_routes(*router_, ctx);
  add_session_routes(*router_, ctx);

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
  if (address.port == 0) {
    const int port = server_->bind_to_any_port(address.host);
    if (port <= 0) return fail(ErrorCode::kIo, "cannot listen on " + address.text());
    return port;
  }
  if (!server_->bind_to_port(address.host, address.port)) {
    return fail(ErrorCode::kIo, "cannot listen on " + address.text() +
                                    " (address in use, or not an address of this machine)");
  }
  return static_cast<int>(address.port);
}

bool ApiServer::run() { return server_->listen_after_bind(); }

void ApiServer::stop() { server_->stop(); }

}  // namespace sekisho::broker
