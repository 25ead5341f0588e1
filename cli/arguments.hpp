// Parsing of the CLI's own argument forms: gateway URLs, host addresses, ACCOUNT@HOST targets.
// Pure functions, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace sekisho::cli {

// The gateway's API endpoint. Only https is accepted: a password or token must never travel in
// clear text.
struct ServerUrl {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  int port = 8443;
  // The canonical form "https://host:port" ("https://[::1]:8443"), used as the key of pins and
  // sessions so that "https://LOCALHOST:8443/" and "https://localhost:8443" are one server.
  std::string url() const;
};

inline constexpr std::string_view kDefaultServer = "https://127.0.0.1:8443";

// Parses "https://host[:port][/]". Refuses other schemes, paths, user info and bad ports.
[[nodiscard]] Result<ServerUrl> parse_server_url(std::string_view text);

// A target's network address as given to `hosts add --address`.
struct HostAddress {
  std::string address;  // IPv6 without brackets
  int port = 0;
  // "addr:port", with brackets around an IPv6 address.
  std::string text() const;
};

// Parses ADDR, ADDR:PORT, [V6] or [V6]:PORT; a bare IPv6 address (two or more colons) has no
// port. `default_port` fills a missing port.
[[nodiscard]] Result<HostAddress> parse_host_address(std::string_view text, int default_port);

// "root@web01" → {"root", "web01"}; split at the LAST '@' so that an account that is itself a
// UPN ("svc@corp.example@web01") keeps its '@'.
struct AccountTarget {
  std::string account;
  std::string host;
};
[[nodiscard]] Result<AccountTarget> split_account_at_host(std::string_view text);

// "operator, auditor" → {"operator", "auditor"}; refuses empty lists and empty items.
[[nodiscard]] Result<std::vector<std::string>> parse_roles(std::string_view text);

// Checks a name that goes into a URL path (/v1/users/NAME): 1–255 bytes of [A-Za-z0-9._@-].
[[nodiscard]] Result<void> check_path_name(std::string_view what, std::string_view name);

}  // namespace sekisho::cli
