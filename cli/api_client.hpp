// HTTPS client of the gateway's API (docs/api.md): certificate pinning, timeouts, a response size
// limit, JSON in and out, and the mapping of the API's error shape to one-line Errors.
#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "cli/arguments.hpp"
#include "cli/certificate_pin.hpp"

namespace httplib {
class SSLClient;
}

namespace sekisho::cli {

struct ClientLimits {
  int connect_timeout_seconds = 10;
  int io_timeout_seconds = 10;
  std::size_t max_response_bytes = 4 * 1024 * 1024;
};

// An HTTP answer of the gateway: any status, its body parsed as JSON (null when empty).
struct ApiResponse {
  int status = 0;
  nlohmann::json body;
  // The API's error code ("password_change_required"), or "" for a success.
  std::string error_code() const;
};

// One gateway. Every request opens a new TLS connection, verified against the pin before anything
// is sent. Not thread-safe; the object must stay where it was created (the TLS callback holds a
// pointer into it), hence no copy or move.
class ApiClient {
 public:
  // `pinned`: the fingerprint the gateway must present, or nullopt to accept the first one seen
  // (trust on first use; see PinState). `pin_file` names the file to mention when a pin fails.
  ApiClient(ServerUrl server, std::optional<std::string> pinned, std::string pin_file,
            ClientLimits limits = {});
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // `token` (may be null) goes into an Authorization: Bearer header.
  [[nodiscard]] Result<ApiResponse> get(const std::string& path, const Secret* token);
  [[nodiscard]] Result<ApiResponse> del(const std::string& path, const Secret* token);
  [[nodiscard]] Result<ApiResponse> post(const std::string& path, const nlohmann::json& body,
                                         const Secret* token);
  // POST of a body that carries secrets (see json_with_secrets); our copies of it are wiped.
  [[nodiscard]] Result<ApiResponse> post_secret(const std::string& path, const Secret& body,
                                                const Secret* token);
  // GET of a file (recording exports): the body of a 2xx answer goes to `sink` piece by piece as
  // it arrives, with no size limit (`sink` returns false to stop); any other answer is read as
  // the API's JSON error, within the usual limit.
  [[nodiscard]] Result<ApiResponse> download(const std::string& path, const Secret* token,
                                             const std::function<bool(std::string_view)>& sink);

  const ServerUrl& server() const { return server_; }
  // The fingerprint the gateway presented at the latest handshake ("" before any).
  const std::string& presented_certificate() const { return pin_->presented; }

 private:
  [[nodiscard]] Result<ApiResponse> send(
      const std::string& method, const std::string& path, std::string body, const Secret* token,
      const std::function<bool(std::string_view)>* sink = nullptr);
  Error transport_error(int httplib_error, bool too_large) const;

  ServerUrl server_;
  std::string pin_file_;
  ClientLimits limits_;
  std::unique_ptr<PinState> pin_;
  std::unique_ptr<httplib::SSLClient> client_;
};

// A JSON object of the public `fields` plus string members whose values are secrets, written
// straight into a Secret (nlohmann::json would keep unwiped copies).
[[nodiscard]] Secret json_with_secrets(
    const nlohmann::json& fields,
    std::initializer_list<std::pair<std::string_view, const Secret*>> secrets);

// The body of a 2xx answer; any other status becomes an Error carrying the server's message.
[[nodiscard]] Result<nlohmann::json> expect_success(Result<ApiResponse> response);

}  // namespace sekisho::cli
