#include "cli/api_client.hpp"

#include <httplib.h>

#include "base/secret.hpp"
#include "cli/table.hpp"

namespace sekisho::cli {

namespace {

constexpr char kJson[] = "application/json";
constexpr std::size_t kMaxMessage = 300;

ErrorCode code_for(const std::string& api_error, int status) {
  if (api_error == "unauthenticated" || api_error == "totp_required") {
    return ErrorCode::kUnauthenticated;
  }
  if (api_error == "password_change_required" || api_error == "forbidden") {
    return ErrorCode::kPermissionDenied;
  }
  if (api_error == "not_found") return ErrorCode::kNotFound;
  if (api_error == "conflict") return ErrorCode::kAlreadyExists;
  if (api_error == "throttled") return ErrorCode::kThrottled;
  if (api_error == "unavailable" || api_error == "directory_unavailable") {
    return ErrorCode::kUnavailable;
  }
  if (api_error == "bad_request" || api_error == "payload_too_large") {
    return ErrorCode::kInvalidArgument;
  }
  return status >= 500 ? ErrorCode::kInternal : ErrorCode::kInvalidArgument;
}

void wipe_string(std::string& s) {
  wipe(s.data(), s.size());
  s.clear();
}

// Appends `text` as the inside of a JSON string; `out` must have room (6 bytes per input byte).
std::size_t escape_into(std::string_view text, std::uint8_t* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t n = 0;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = c;
    } else if (c < 0x20) {
      for (const char e : {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]}) {
        out[n++] = static_cast<std::uint8_t>(e);
      }
    } else {
      out[n++] = c;
    }
  }
  return n;
}

}  // namespace

std::string ApiResponse::error_code() const {
  if (status >= 200 && status < 300) return "";
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    return body["error"].get<std::string>();
  }
  return "http_" + std::to_string(status);
}

ApiClient::ApiClient(ServerUrl server, std::optional<std::string> pinned, std::string pin_file,
                     ClientLimits limits)
    : server_(std::move(server)),
      pin_file_(std::move(pin_file)),
      limits_(limits),
      pin_(std::make_unique<PinState>()),
      client_(std::make_unique<httplib::SSLClient>(server_.host, server_.port)) {
  pin_->expected = std::move(pinned);
  // httplib's own verification would check a CA chain and the host name, and would reset the
  // verify mode of each connection; the pin replaces both.
  client_->enable_server_certificate_verification(false);
  install_pin_verifier(client_->ssl_context(), pin_.get());
  client_->set_connection_timeout(limits_.connect_timeout_seconds, 0);
  client_->set_read_timeout(limits_.io_timeout_seconds, 0);
  client_->set_write_timeout(limits_.io_timeout_seconds, 0);
  client_->set_keep_alive(false);
  client_->set_follow_location(false);
}

ApiClient::~ApiClient() = default;

Error ApiClient::transport_error(int httplib_error, bool too_large) const {
  const std::string where = "the gateway at " + server_.url();
  if (pin_->mismatch) {
    return Error{ErrorCode::kPermissionDenied,
                 "the gateway's certificate changed (pinned " + pin_->expected.value_or("?") +
                     ", presented " + pin_->presented + "); if this is expected, remove " +
                     pin_file_ + " and log in again"};
  }
  if (too_large) {
    return Error{ErrorCode::kCorrupt, "the answer of " + where + " is larger than " +
                                          std::to_string(limits_.max_response_bytes) + " bytes"};
  }
  switch (static_cast<httplib::Error>(httplib_error)) {
    case httplib::Error::Connection:
    case httplib::Error::ConnectionTimeout:
      return Error{ErrorCode::kUnavailable,
                   "cannot reach " + where + " (is sekishod running there?)"};
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLServerVerification:
      return Error{ErrorCode::kUnavailable, "TLS handshake with " + where + " failed"};
    case httplib::Error::Read:
      return Error{ErrorCode::kUnavailable,
                   "no answer from " + where + " (timed out or connection closed)"};
    case httplib::Error::Write:
      return Error{ErrorCode::kUnavailable, "cannot send the request to " + where};
    default:
      return Error{ErrorCode::kUnavailable,
                   "request to " + where + " failed: " +
                       httplib::to_string(static_cast<httplib::Error>(httplib_error))};
  }
}

Result<ApiResponse> ApiClient::send(const std::string& method, const std::string& path,
                                    std::string body, const Secret* token,
                                    const std::function<bool(std::string_view)>* sink) {
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers.emplace("Accept", kJson);
  if (method == "POST") {
    req.headers.emplace("Content-Type", kJson);
    req.body = std::move(body);
  }
  if (token != nullptr) {
    std::string value = "Bearer ";
    value.append(token->view());
    req.headers.emplace("Authorization", value);
    wipe_string(value);
  }
  std::string received;
  bool too_large = false;
  int status = 0;
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    if (sink != nullptr && status >= 200 && status < 300) return (*sink)({data, n});
    if (received.size() + n > limits_.max_response_bytes) {
      too_large = true;
      return false;
    }
    received.append(data, n);
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent = client_->send(req, res, err);
  wipe_string(req.body);
  for (auto& [name, value] : req.headers) {
    if (name == "Authorization") wipe_string(value);
  }
  if (!sent || too_large) {
    wipe_string(received);
    return tl::make_unexpected(transport_error(static_cast<int>(err), too_large));
  }
  ApiResponse out;
  out.status = res.status;
  if (!received.empty()) {
    out.body = nlohmann::json::parse(received, nullptr, false);
    wipe_string(received);
    if (out.body.is_discarded()) {
      if (res.status >= 400) {
        out.body = nullptr;  // expect_success reports the bare status
      } else {
        return fail(ErrorCode::kCorrupt,
                    "the gateway at " + server_.url() + " answered something that is not JSON");
      }
    }
  }
  return out;
}

Result<ApiResponse> ApiClient::get(const std::string& path, const Secret* token) {
  return send("GET", path, {}, token);
}

Result<ApiResponse> ApiClient::del(const std::string& path, const Secret* token) {
  return send("DELETE", path, {}, token);
}

Result<ApiResponse> ApiClient::post(const std::string& path, const nlohmann::json& body,
                                    const Secret* token) {
  return send("POST", path, body.dump(), token);
}

Result<ApiResponse> ApiClient::post_secret(const std::string& path, const Secret& body,
                                           const Secret* token) {
  return send("POST", path, std::string(body.view()), token);
}

Result<ApiResponse> ApiClient::download(const std::string& path, const Secret* token,
                                        const std::function<bool(std::string_view)>& sink) {
  return send("GET", path, {}, token, &sink);
}

Secret json_with_secrets(
    const nlohmann::json& fields,
    std::initializer_list<std::pair<std::string_view, const Secret*>> secrets) {
  const std::string head = fields.is_object() && !fields.empty() ? fields.dump() : "{}";
  std::size_t bound = head.size();
  for (const auto& [name, secret] : secrets) bound += 6 * (name.size() + secret->size()) + 8;
  Secret buffer(bound);
  std::uint8_t* out = buffer.data();
  std::size_t n = head.size() - 1;  // without the closing brace
  std::copy(head.begin(), head.end() - 1, out);
  bool first = head.size() == 2;
  for (const auto& [name, secret] : secrets) {
    if (!first) out[n++] = ',';
    first = false;
    out[n++] = '"';
    n += escape_into(name, out + n);
    for (const char c : {'"', ':', '"'}) out[n++] = static_cast<std::uint8_t>(c);
    n += escape_into(secret->view(), out + n);
    out[n++] = '"';
  }
  out[n++] = '}';
  return Secret::copy_of(std::span<const std::uint8_t>(out, n));
}

Result<nlohmann::json> expect_success(Result<ApiResponse> response) {
  if (!response) return tl::make_unexpected(response.error());
  if (response->status >= 200 && response->status < 300) {
    return response->body.is_null() ? nlohmann::json::object() : std::move(response->body);
  }
  const auto& body = response->body;
  std::string message;
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    message = printable(body["message"].get<std::string>().substr(0, kMaxMessage));
  }
  if (message.empty()) message = "the gateway answered HTTP " + std::to_string(response->status);
  return fail(code_for(response->error_code(), response->status), message);
}

}  // namespace sekisho::cli
