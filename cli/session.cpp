#include "cli/session.hpp"

#include <iostream>

namespace sekisho::cli {

Result<ServerUrl> choose_server(const GlobalOptions& options,
                                const std::optional<SessionInfo>& session) {
  if (!options.server.empty()) return parse_server_url(options.server);
  if (session) return parse_server_url(session->server);
  return parse_server_url(kDefaultServer);
}

Gateway::Gateway(CliHome home, std::optional<SessionInfo> session, const ServerUrl& server,
                 std::optional<std::string> pinned)
    : home_(std::move(home)),
      session_(std::move(session)),
      pinned_(std::move(pinned)),
      api_(std::make_unique<ApiClient>(server, pinned_, home_.pins_file().string())) {}

Result<std::unique_ptr<Gateway>> Gateway::anonymous(const GlobalOptions& options) {
  auto home = CliHome::locate();
  if (!home) return tl::make_unexpected(home.error());
  if (auto r = home->ensure(); !r) return tl::make_unexpected(r.error());
  auto session = home->load_session();
  if (!session) return tl::make_unexpected(session.error());
  auto server = choose_server(options, *session);
  if (!server) return tl::make_unexpected(server.error());
  auto pinned = home->pinned_certificate(server->url());
  if (!pinned) return tl::make_unexpected(pinned.error());
  return std::unique_ptr<Gateway>(new Gateway(std::move(*home), *session, *server, *pinned));
}

Result<std::unique_ptr<Gateway>> Gateway::logged_in(const GlobalOptions& options) {
  auto gateway = anonymous(options);
  if (!gateway) return gateway;
  Gateway& g = **gateway;
  if (!g.session_ || g.session_->server != g.server().url()) {
    return fail(ErrorCode::kUnauthenticated,
                "not logged in to " + g.server().url() + "; run: sekisho login --user NAME");
  }
  if (!g.pinned_) {
    // A session without a pin can only come from a damaged SEKISHO_HOME: never send the token
    // to a server whose certificate was not checked.
    return fail(ErrorCode::kPermissionDenied, "no pinned certificate for " + g.server().url() +
                                                  " in " + g.home_.pins_file().string() +
                                                  "; run: sekisho login --user NAME");
  }
  auto token = g.home_.load_token();
  if (!token) return tl::make_unexpected(token.error());
  g.token_ = std::move(*token);
  return gateway;
}

Result<nlohmann::json> Gateway::checked(Result<ApiResponse> response) const {
  auto body = expect_success(std::move(response));
  if (!body && body.error().code == ErrorCode::kUnauthenticated && session_) {
    return fail(ErrorCode::kUnauthenticated,
                body.error().message + " (run: sekisho login --user " + session_->user + ")");
  }
  return body;
}

Result<nlohmann::json> Gateway::get(const std::string& path) {
  return checked(api_->get(path, token()));
}

Result<nlohmann::json> Gateway::del(const std::string& path) {
  return checked(api_->del(path, token()));
}

Result<nlohmann::json> Gateway::post(const std::string& path, const nlohmann::json& body) {
  return checked(api_->post(path, body, token()));
}

Result<nlohmann::json> Gateway::post_secret(const std::string& path, const Secret& body) {
  return checked(api_->post_secret(path, body, token()));
}

Result<void> Gateway::download(const std::string& path,
                               const std::function<bool(std::string_view)>& sink) {
  auto body = checked(api_->download(path, token(), sink));
  if (!body) return tl::make_unexpected(body.error());
  return ok();
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

}  // namespace sekisho::cli
