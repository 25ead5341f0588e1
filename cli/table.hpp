// Aligned plain-text tables and safe display of text that came from the server.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sekisho::cli {

// Replaces control characters (terminal escapes, newlines) with '?', so that a value stored by
// someone else cannot rewrite the operator's screen. UTF-8 text passes through.
std::string printable(std::string_view text);

// Columns separated by two spaces, each as wide as its widest cell (counted in UTF-8 code
// points); the last column is not padded. Every cell goes through printable(). Rows shorter than
// the header are padded with empty cells. Ends with a newline per line.
std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

// A JSON value as a table cell: strings as they are, arrays joined with ",", booleans as
// "yes"/"no", null or missing as "".
std::string cell(const nlohmann::json& object, const std::string& key);

}  // namespace sekisho::cli
