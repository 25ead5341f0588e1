#include "cli/arguments.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace sekisho::cli {

namespace {

Result<int> parse_port(std::string_view text, std::string_view context) {
  int port = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, port);
  if (text.empty() || ec != std::errc() || ptr != end || port < 1 || port > 65535) {
    return fail(ErrorCode::kInvalidArgument,
                "bad port '" + std::string(text.substr(0, 16)) + "' in " + std::string(context));
  }
  return port;
}

bool is_plain_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
}

bool valid_ipv6_chars(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.' || c == '%';
  });
}

bool valid_plain_host(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), is_plain_host_char);
}

std::string with_brackets(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// Splits "host", "host:port", "[v6]", "[v6]:port" into host and port text (empty when absent).
Result<std::pair<std::string, std::string>> split_host_port(std::string_view text,
                                                            std::string_view context) {
  const std::string ctx(context);
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return fail(ErrorCode::kInvalidArgument, "missing ']' in " + ctx);
    }
    const std::string host(text.substr(1, close - 1));
    if (!valid_ipv6_chars(host))
      return fail(ErrorCode::kInvalidArgument, "bad IPv6 address in " + ctx);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return std::pair{host, std::string()};
    if (rest.front() != ':')
      return fail(ErrorCode::kInvalidArgument, "unexpected text after ']' in " + ctx);
    return std::pair{host, std::string(rest.substr(1))};
  }
  const auto colons = std::count(text.begin(), text.end(), ':');
  if (colons >= 2) {  // a bare IPv6 address: no port can be told apart
    if (!valid_ipv6_chars(text))
      return fail(ErrorCode::kInvalidArgument, "bad IPv6 address in " + ctx);
    return std::pair{std::string(text), std::string()};
  }
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::pair{std::string(text), std::string()};
  return std::pair{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

}  // namespace

std::string ServerUrl::url() const {
  return "https://" + with_brackets(host) + ":" + std::to_string(port);
}

Result<ServerUrl> parse_server_url(std::string_view text) {
  constexpr std::string_view kScheme = "https://";
  const std::string shown(text.substr(0, 200));
  if (text.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), text.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
      })) {
    return fail(ErrorCode::kInvalidArgument,
                "the server must be an https:// URL, got '" + shown + "'");
  }
  std::string_view rest = text.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    return fail(ErrorCode::kInvalidArgument,
                "the server URL must be https://HOST[:PORT] without a path, got '" + shown + "'");
  }
  auto parts = split_host_port(rest, "server URL '" + shown + "'");
  if (!parts) return tl::make_unexpected(parts.error());
  ServerUrl url;
  url.host = parts->first;
  std::transform(url.host.begin(), url.host.end(), url.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (url.host.find(':') == std::string::npos && !valid_plain_host(url.host)) {
    return fail(ErrorCode::kInvalidArgument, "bad host name in server URL '" + shown + "'");
  }
  if (!parts->second.empty()) {
    auto port = parse_port(parts->second, "server URL '" + shown + "'");
    if (!port) return tl::make_unexpected(port.error());
    url.port = *port;
  }
  return url;
}

std::string HostAddress::text() const {
  return with_brackets(address) + ":" + std::to_string(port);
}

Result<HostAddress> parse_host_address(std::string_view text, int default_port) {
  const std::string context = "address '" + std::string(text.substr(0, 200)) + "'";
  if (text.empty()) return fail(ErrorCode::kInvalidArgument, "empty address");
  auto parts = split_host_port(text, context);
  if (!parts) return tl::make_unexpected(parts.error());
  if (parts->first.find(':') == std::string::npos && !valid_plain_host(parts->first)) {
    return fail(ErrorCode::kInvalidArgument, "bad host in " + context);
  }
  HostAddress address{parts->first, default_port};
  if (!parts->second.empty()) {
    auto port = parse_port(parts->second, context);
    if (!port) return tl::make_unexpected(port.error());
    address.port = *port;
  } else if (text.back() == ':') {
    return fail(ErrorCode::kInvalidArgument, "missing port after ':' in " + context);
  }
  return address;
}

Result<AccountTarget> split_account_at_host(std::string_view text) {
  const auto at = text.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) {
    return fail(ErrorCode::kInvalidArgument,
                "expected ACCOUNT@HOST, got '" + std::string(text.substr(0, 200)) + "'");
  }
  return AccountTarget{std::string(text.substr(0, at)), std::string(text.substr(at + 1))};
}

Result<std::vector<std::string>> parse_roles(std::string_view text) {
  std::vector<std::string> roles;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) {
      return fail(ErrorCode::kInvalidArgument,
                  "empty role in --roles '" + std::string(text.substr(0, 200)) + "'");
    }
    roles.emplace_back(item);
    start = end + 1;
  }
  return roles;
}

Result<void> check_path_name(std::string_view what, std::string_view name) {
  const bool good = !name.empty() && name.size() <= 255 &&
                    std::all_of(name.begin(), name.end(),
                                [](char c) { return is_plain_host_char(c) || c == '@'; });
  if (!good) {
    return fail(ErrorCode::kInvalidArgument, "bad " + std::string(what) + " '" +
                                                 std::string(name.substr(0, 100)) +
                                                 "': use letters, digits and . _ @ -");
  }
  return ok();
}

}  // namespace sekisho::cli
