#include "broker/api/router.hpp"

#include <httplib.h>

#include <charconv>

namespace sekisho::broker {

namespace {

constexpr char kJson[] = "application/json";

void write_error(httplib::Response& res, const Error& e) {
  res.status = http_status(e.code);
  res.set_content(nlohmann::json{{"error", error_name(e.code)}, {"message", e.message}}.dump(
                      -1, ' ', false, nlohmann::json::error_handler_t::replace),
                  kJson);
}

// Wipes the raw request body: it may hold passwords, and httplib keeps it until the connection
// is done with the request.
void wipe_body(const httplib::Request& req) {
  auto& body = const_cast<std::string&>(req.body);
  wipe(body.data(), body.size());
}

constexpr std::size_t kDownloadPiece = 64 * 1024;

// Streams a download in pieces, so that a large recording is never held in memory whole.
void write_download(httplib::Response& res, ApiDownload download) {
  res.status = 200;
  if (!download.file_name.empty()) {
    res.set_header("Content-Disposition", "attachment; filename=\"" + download.file_name + "\"");
  }
  res.set_content_provider(static_cast<std::size_t>(download.size), download.content_type,
                           [read = std::move(download.read)](std::size_t offset, std::size_t length,
                                                             httplib::DataSink& sink) {
                             const std::string piece =
                                 read(offset, std::min(length, kDownloadPiece));
                             return !piece.empty() && sink.write(piece.data(), piece.size());
                           });
}

Result<nlohmann::json> parse_body(const httplib::Request& req) {
  if (req.method == "GET" || req.method == "DELETE" || req.body.empty()) {
    return nlohmann::json::object();
  }
  auto body = nlohmann::json::parse(req.body, nullptr, false);
  wipe_body(req);
  if (body.is_discarded() || !body.is_object()) {
    return fail(ErrorCode::kInvalidArgument, "the request body must be a JSON object");
  }
  return body;
}

std::string regex_for(const std::string& pattern) {
  const auto colon = pattern.find("/:name");
  if (colon == std::string::npos) return pattern;
  return pattern.substr(0, colon) + "/([A-Za-z0-9._@-]{1,256})" + pattern.substr(colon + 6);
}

}  // namespace

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kTotpRequired:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kPasswordChangeRequired:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kAlreadyExists:
      return 409;
    case ErrorCode::kThrottled:
      return 429;
    case ErrorCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string error_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "bad_request";
    case ErrorCode::kUnauthenticated:
      return "unauthenticated";
    case ErrorCode::kTotpRequired:
      return "totp_required";
    case ErrorCode::kPermissionDenied:
      return "forbidden";
    case ErrorCode::kPasswordChangeRequired:
      return "password_change_required";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "conflict";
    case ErrorCode::kThrottled:
      return "throttled";
    case ErrorCode::kUnavailable:
      return "unavailable";
    default:
      return "internal";
  }
}

void ApiRouter::handle(const httplib::Request& req, httplib::Response& res, const Access& access,
                       const ApiHandler& handler) {
  auto body = parse_body(req);
  if (!body) return write_error(res, body.error());
  ApiRequest request{req, std::move(*body), std::nullopt, req.remote_addr,
                     req.matches.size() > 1 ? std::string(req.matches[1]) : std::string()};
  struct BodyWiper {
    nlohmann::json& body;
    ~BodyWiper() { wipe_strings(body); }
  } wiper{request.body};
  if (!access.is_public) {
    auto caller = auth_.authenticate(req.get_header_value("Authorization"));
    if (!caller) return write_error(res, caller.error());
    if (auto refusal = check_access(access, *caller)) {
      refusal->details["method"] = req.method;
      refusal->details["source"] = request.source;
      (void)audit_.append(
          {caller->name, "access.denied", req.path.substr(0, 200), std::move(refusal->details)});
      return write_error(res, refusal->error);
    }
    request.caller = std::move(*caller);
  }
  auto reply = handler(request);
  if (!reply) return write_error(res, reply.error());
  if (reply->download) return write_download(res, std::move(*reply->download));
  res.status = reply->status;
  if (reply->secret) {
    res.set_header("Cache-Control", "no-store");
    res.set_header("Pragma", "no-cache");
  }
  res.set_content(reply->body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  kJson);
  if (reply->secret) wipe_strings(reply->body);
}

std::optional<AccessRefusal> check_access(const Access& access, const Caller& caller) {
  if (caller.scope == storage::TokenScope::kTotpEnrollment && !access.enrolment_token_ok) {
    return AccessRefusal{{ErrorCode::kPermissionDenied, kEnrolmentOnlyMessage},
                         {{"reason", "totp_enrollment_only"}}};
  }
  const bool allowed =
      access.roles.empty() || std::any_of(access.roles.begin(), access.roles.end(),
                                          [&](const std::string& r) { return caller.has_role(r); });
  if (allowed) return std::nullopt;
  std::string needed;
  for (const auto& r : access.roles) needed += (needed.empty() ? "" : " or ") + r;
  return AccessRefusal{{ErrorCode::kPermissionDenied, "this needs the " + needed + " role"},
                       {{"needs", needed}}};
}

void ApiRouter::get(const std::string& pattern, Access access, ApiHandler handler) {
  server_.Get(regex_for(pattern),
              [this, access, handler](const httplib::Request& req, httplib::Response& res) {
                handle(req, res, access, handler);
              });
}

void ApiRouter::post(const std::string& pattern, Access access, ApiHandler handler) {
  server_.Post(regex_for(pattern),
               [this, access, handler](const httplib::Request& req, httplib::Response& res) {
                 handle(req, res, access, handler);
               });
}

void ApiRouter::del(const std::string& pattern, Access access, ApiHandler handler) {
  server_.Delete(regex_for(pattern),
                 [this, access, handler](const httplib::Request& req, httplib::Response& res) {
                   handle(req, res, access, handler);
                 });
}

Result<std::optional<std::string>> optional_string_field(const nlohmann::json& body,
                                                         const std::string& key, std::size_t max) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<std::string>();
  if (!body[key].is_string()) return fail(ErrorCode::kInvalidArgument, key + ": must be a string");
  const auto& s = body[key].get_ref<const std::string&>();
  if (s.size() > max) {
    return fail(ErrorCode::kInvalidArgument,
                key + ": longer than " + std::to_string(max) + " bytes");
  }
  return std::optional<std::string>(s);
}

Result<std::string> string_field(const nlohmann::json& body, const std::string& key,
                                 std::size_t max) {
  auto s = optional_string_field(body, key, max);
  if (!s) return tl::make_unexpected(s.error());
  if (!s->has_value() || (*s)->empty())
    return fail(ErrorCode::kInvalidArgument, key + ": required");
  return **s;
}

void wipe_strings(nlohmann::json& body) {
  if (body.is_string()) {
    auto& s = body.get_ref<std::string&>();
    wipe(s.data(), s.size());
    return;
  }
  if (body.is_structured()) {
    for (auto& item : body) wipe_strings(item);
  }
}

Result<Secret> secret_field(nlohmann::json& body, const std::string& key, std::size_t max) {
  if (!body.contains(key) || !body[key].is_string()) {
    return fail(ErrorCode::kInvalidArgument, key + ": required");
  }
  auto& s = body[key].get_ref<std::string&>();
  if (s.size() > max) {
    wipe(s.data(), s.size());
    return fail(ErrorCode::kInvalidArgument,
                key + ": longer than " + std::to_string(max) + " bytes");
  }
  Secret out = Secret::copy_of(std::string_view(s));
  wipe(s.data(), s.size());
  return out;
}

Result<std::optional<std::string>> query_param(const ApiRequest& req, const std::string& key,
                                               std::size_t max) {
  if (!req.http.has_param(key.c_str())) return std::optional<std::string>();
  std::string value = req.http.get_param_value(key.c_str());
  if (value.size() > max) {
    return fail(ErrorCode::kInvalidArgument,
                key + ": longer than " + std::to_string(max) + " bytes");
  }
  return std::optional<std::string>(std::move(value));
}

Result<std::optional<std::int64_t>> query_integer(const ApiRequest& req, const std::string& key,
                                                  std::int64_t min, std::int64_t max) {
  auto text = query_param(req, key, 20);
  if (!text) return tl::make_unexpected(text.error());
  if (!text->has_value()) return std::optional<std::int64_t>();
  std::int64_t value = 0;
  const std::string& s = **text;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < min || value > max) {
    return fail(
        ErrorCode::kInvalidArgument,
        key + ": must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return std::optional<std::int64_t>(value);
}

Result<std::vector<std::string>> string_list_field(const nlohmann::json& body,
                                                   const std::string& key, std::size_t max_items,
                                                   std::size_t max_length) {
  std::vector<std::string> out;
  if (!body.contains(key)) return out;
  if (!body[key].is_array() || body[key].size() > max_items) {
    return fail(ErrorCode::kInvalidArgument,
                key + ": must be a list of at most " + std::to_string(max_items) + " strings");
  }
  for (const auto& item : body[key]) {
    if (!item.is_string() || item.get_ref<const std::string&>().size() > max_length) {
      return fail(ErrorCode::kInvalidArgument, key + ": must be a list of short strings");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace sekisho::broker
