#include "ssh/rotation_job.hpp"

#include <array>
#include <utility>

#include "base/names.hpp"

namespace sekisho::ssh {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxAddress = 253;
constexpr long kMaxTimeoutSeconds = 600;

struct VerdictName {
  RotationVerdict verdict;
  const char* name;
  bool for_change;  // a verdict of change_password (else of try_login); unreachable: both
  bool for_login;
};

constexpr std::array<VerdictName, 6> kVerdicts{{
    {RotationVerdict::kAccepted, "accepted", false, true},
    {RotationVerdict::kRefused, "refused", true, true},
    {RotationVerdict::kUnreachable, "unreachable", true, true},
    {RotationVerdict::kChanged, "changed", true, false},
    {RotationVerdict::kRejected, "rejected", true, false},
    {RotationVerdict::kUnknown, "unknown", true, false},
}};

Result<void> check_job(const RotationJob& job) {
  const bool change = job.kind == RotationJobKind::kChangePassword;
  if (job.address.empty() || job.address.size() > kMaxAddress || job.port == 0 ||
      job.port > 65535 || job.timeout_seconds < 1 || job.timeout_seconds > kMaxTimeoutSeconds ||
      job.pinned_host_key.empty() || !check_account_name(job.login) ||
      (change && !check_account_name(job.account)) ||
      (!change && !job.account.empty() &&
       (!check_account_name(job.account) || job.account.front() == '-'))) {
    return fail(ErrorCode::kInvalidArgument, "bad rotation job");
  }
  return ok();
}

// The string field `name`, or nullopt when it is absent or not a string.
std::optional<std::string> string_field(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

Result<json> rotation_hello(const RotationJob& job) {
  if (auto r = check_job(job); !r) return tl::make_unexpected(r.error());
  const bool change = job.kind == RotationJobKind::kChangePassword;
  json hello = {{"type", "hello"},
                {"job", change ? kChangePasswordJob : kTryLoginJob},
                {"address", job.address},
                {"port", job.port},
                {"timeout_seconds", job.timeout_seconds},
                {"host_key", job.pinned_host_key},
                {"login", job.login},
                {"login_kind", job.login_kind == CredentialKind::kPrivateKey ? "key" : "password"}};
  if (change) {
    hello["account"] = job.account;
    hello["sudo"] = job.sudo;
  } else if (!job.account.empty()) {
    hello["account"] = job.account;
  }
  return hello;
}

Result<RotationJob> rotation_job_from_hello(const json& hello) {
  const auto bad = [] {
    return fail(ErrorCode::kInvalidArgument, "bad rotation job in the hello");
  };
  const auto name = string_field(hello, "job");
  const auto kind = string_field(hello, "login_kind");
  const auto port = hello.find("port");
  const auto timeout = hello.find("timeout_seconds");
  if (!name || (*name != kChangePasswordJob && *name != kTryLoginJob) || !kind ||
      (*kind != "password" && *kind != "key") || port == hello.end() ||
      !port->is_number_unsigned() || port->get<std::uint64_t>() > 65535 || timeout == hello.end() ||
      !timeout->is_number_integer()) {
    return bad();
  }
  RotationJob job;
  job.kind =
      *name == kChangePasswordJob ? RotationJobKind::kChangePassword : RotationJobKind::kTryLogin;
  job.address = string_field(hello, "address").value_or("");
  job.port = port->get<unsigned int>();
  job.timeout_seconds = timeout->get<long>();
  job.pinned_host_key = string_field(hello, "host_key").value_or("");
  job.login = string_field(hello, "login").value_or("");
  job.login_kind = *kind == "key" ? CredentialKind::kPrivateKey : CredentialKind::kPassword;
  if (job.kind == RotationJobKind::kChangePassword) {
    const auto sudo = hello.find("sudo");
    if (sudo == hello.end() || !sudo->is_boolean()) return bad();
    job.sudo = sudo->get<bool>();
  }
  job.account = string_field(hello, "account").value_or("");
  if (!check_job(job)) return bad();
  return job;
}

const char* chpasswd_command(const RotationJob& job) {
  return job.sudo ? "sudo -n chpasswd" : "chpasswd";
}

std::string su_command(const RotationJob& job) { return "su -c true " + job.account; }

const char* to_string(RotationVerdict verdict) {
  for (const auto& v : kVerdicts) {
    if (v.verdict == verdict) return v.name;
  }
  return "unknown";
}

json rotation_result_message(RotationVerdict verdict, std::string_view message) {
  return {{"type", "result"},
          {"verdict", to_string(verdict)},
          {"message", one_line(message, kMaxRotationMessage)}};
}

Result<RotationResult> rotation_result_from(const json& body, RotationJobKind kind) {
  const auto type = string_field(body, "type");
  const auto name = string_field(body, "verdict");
  if (type == "result" && name) {
    for (const auto& v : kVerdicts) {
      const bool fits = kind == RotationJobKind::kChangePassword ? v.for_change : v.for_login;
      if (*name == v.name && fits) {
        return RotationResult{
            v.verdict, one_line(string_field(body, "message").value_or(""), kMaxRotationMessage)};
      }
    }
  }
  return fail(ErrorCode::kInvalidArgument, "not a rotation result");
}

std::string one_line(std::string_view text, std::size_t max) {
  std::string out;
  bool blank = false;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == ' ') {
      blank = !out.empty();
      continue;
    }
    if (blank) out.push_back(' ');
    blank = false;
    out.push_back(ch);
    if (out.size() >= max) break;
  }
  if (out.size() > max) out.resize(max);
  while (!out.empty() && out.back() == ' ') out.pop_back();  // a blank the cut left at the end
  return out;
}

std::string redact(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  constexpr std::string_view kMark = "[secret]";
  for (auto at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + kMark.size())) {
    text.replace(at, secret.size(), kMark);
  }
  return text;
}

Result<void> check_chpasswd_password(std::string_view password) {
  if (password.empty()) return fail(ErrorCode::kInvalidArgument, "the new password is empty");
  if (password.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos) {
    return fail(ErrorCode::kInvalidArgument,
                "the new password contains a line break or NUL, which chpasswd cannot take");
  }
  return ok();
}

}  // namespace sekisho::ssh
