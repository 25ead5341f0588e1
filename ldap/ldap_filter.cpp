#include "ldap/ldap_filter.hpp"

namespace sekisho::ldap {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_escape(std::string& out, unsigned char c) {
  out.push_back('\\');
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0x0f]);
}

}  // namespace

std::string escape_filter_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f) {
      append_hex_escape(out, c);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string build_user_filter(std::string_view filter_template, std::string_view user) {
  static constexpr std::string_view kPlaceholder = "{user}";
  const std::string escaped = escape_filter_value(user);
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t hit = filter_template.find(kPlaceholder, pos);
    if (hit == std::string_view::npos) break;
    out.append(filter_template.substr(pos, hit - pos));
    out.append(escaped);
    pos = hit + kPlaceholder.size();
  }
  out.append(filter_template.substr(pos));
  return out;
}

std::string escape_dn_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    const bool special = c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' ||
                         c == ';' || c == '=';
    const bool edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == value.size() && c == ' ');
    if (c < 0x20 || c >= 0x7f) {
      append_hex_escape(out, c);
    } else if (special || edge) {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace sekisho::ldap
