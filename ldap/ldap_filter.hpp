// Escaping of untrusted values placed into LDAP search filters (RFC 4515) and DNs (RFC 4514).
#pragma once

#include <string>
#include <string_view>

namespace sekisho::ldap {

// Escapes a value for an RFC 4515 filter: `*`, `(`, `)`, `\`, NUL and every byte outside
// printable ASCII become `\xx` (two lowercase hex digits), so the value can only ever match
// literally. Never fails.
std::string escape_filter_value(std::string_view value);

// Replaces every `{user}` in `filter_template` with escape_filter_value(user).
std::string build_user_filter(std::string_view filter_template, std::string_view user);

// Escapes a value for an RFC 4514 DN attribute value: `,` `+` `"` `\` `<` `>` `;` `=`, a leading
// space or `#`, a trailing space, and control/NUL/non-ASCII bytes (as `\xx`).
std::string escape_dn_value(std::string_view value);

}  // namespace sekisho::ldap
