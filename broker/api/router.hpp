// ApiRouter: the one place where HTTP meets the API's rules — JSON parsing with limits, bearer
// authentication, role checks, the {error, message} shape and the audit of refusals.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "base/secret.hpp"
#include "broker/auth/auth_service.hpp"
#include "storage/audit_log.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace sekisho::broker {

struct ApiRequest {
  const httplib::Request& http;
  nlohmann::json body;           // {} for GET/DELETE
  std::optional<Caller> caller;  // set unless the route is public
  std::string source;            // peer address
  std::string path_param;        // the NAME of /v1/…/NAME routes, if any
};

// A file sent instead of a JSON body (recording exports): `size` bytes handed out in order by
// `read(offset, max)`, which returns the next piece (at most `max` bytes) or "" when it cannot.
struct ApiDownload {
  std::string content_type;
  std::string file_name;  // for Content-Disposition; [A-Za-z0-9._-] only
  std::uint64_t size = 0;
  std::function<std::string(std::uint64_t offset, std::size_t max)> read;
};

struct ApiReply {
  ApiReply() = default;
  ApiReply(int s, nlohmann::json b) : status(s), body(std::move(b)) {}
  int status = 200;
  nlohmann::json body = nlohmann::json::object();
  std::optional<ApiDownload> download;  // when set, sent instead of `body`
  // The body holds a secret: no cache may keep it (Cache-Control: no-store), and its strings are
  // wiped once sent to the connection.
  bool secret = false;
};

using ApiHandler = std::function<Result<ApiReply>(ApiRequest&)>;

// Overwrites every string of `body` (nested ones too) with zeros in place. The router calls it on
// each request's body when the request ends, whatever path it took: a body may hold a password or
// a private key that a refusal returned before secret_field() could take out and wipe.
void wipe_strings(nlohmann::json& body);

// Who may call a route: nobody logged in (public), any logged-in user, or holders of any of the
// listed roles. A token issued only for TOTP enrolment passes only routes that say so
// (enrolment()); every other route refuses it with kEnrolmentOnlyMessage (audited as
// access.denied, reason totp_enrollment_only).
struct Access {
  bool is_public = false;
  std::vector<std::string> roles;  // empty: any logged-in user
  bool enrolment_token_ok = false;
  static Access anyone() { return {true, {}}; }
  static Access any_user() { return {false, {}}; }
  static Access roles_of(std::vector<std::string> r) { return {false, std::move(r)}; }
  // Any logged-in user, an enrolment-only token included: TOTP enrolment, whoami, logout.
  static Access enrolment() { return {false, {}, true}; }
};

inline constexpr char kEnrolmentOnlyMessage[] =
    "this token may only enrol TOTP; run: sekisho totp enroll, then log in again with --totp";

// Whether `caller` may use a route of `access` (which is not public): nullopt when allowed, else
// the refusal and the audit event's details (without the request's method and source). Pure.
struct AccessRefusal {
  Error error;
  nlohmann::json details;
};
[[nodiscard]] std::optional<AccessRefusal> check_access(const Access& access, const Caller& caller);

class ApiRouter {
 public:
  ApiRouter(httplib::Server& server, AuthService& auth, storage::AuditLog& audit)
      : server_(server), auth_(auth), audit_(audit) {}

  // `pattern` is a path; a trailing "/:name" segment is passed as ApiRequest::path_param.
  void get(const std::string& pattern, Access access, ApiHandler handler);
  void post(const std::string& pattern, Access access, ApiHandler handler);
  void del(const std::string& pattern, Access access, ApiHandler handler);

 private:
  void handle(const httplib::Request& req, httplib::Response& res, const Access& access,
              const ApiHandler& handler);

  httplib::Server& server_;
  AuthService& auth_;
  storage::AuditLog& audit_;
};

// HTTP status and error name for an ErrorCode.
int http_status(ErrorCode code);
std::string error_name(ErrorCode code);

// Field readers for request bodies; each error names the field. Strings are limited to `max`
// bytes; secrets are moved into a Secret and wiped from the JSON document.
[[nodiscard]] Result<std::string> string_field(const nlohmann::json& body, const std::string& key,
                                               std::size_t max);
[[nodiscard]] Result<std::optional<std::string>> optional_string_field(const nlohmann::json& body,
                                                                       const std::string& key,
                                                                       std::size_t max);
[[nodiscard]] Result<Secret> secret_field(nlohmann::json& body, const std::string& key,
                                          std::size_t max);
// Query parameters (GET ?key=value); each error names the parameter. Values are limited to `max`
// bytes; integers must lie in [min, max].
[[nodiscard]] Result<std::optional<std::string>> query_param(const ApiRequest& req,
                                                             const std::string& key,
                                                             std::size_t max);
[[nodiscard]] Result<std::optional<std::int64_t>> query_integer(const ApiRequest& req,
                                                                const std::string& key,
                                                                std::int64_t min, std::int64_t max);
[[nodiscard]] Result<std::vector<std::string>> string_list_field(const nlohmann::json& body,
                                                                 const std::string& key,
                                                                 std::size_t max_items,
                                                                 std::size_t max_length);

}  // namespace sekisho::broker
