#include "broker/daemon/config_recordings.hpp"

#include "base/clock.hpp"

namespace sekisho::broker {

namespace {

Error key_error(const std::string& file, const std::string& key, const std::string& reason) {
  return Error{ErrorCode::kInvalidArgument, file + ": recordings." + key + ": " + reason};
}

// A byte count; 2^62 is far above any disk and keeps sums of them from overflowing.
Result<std::uint64_t> bytes_key(const toml::value& t, const std::string& file,
                                const std::string& key) {
  const auto& v = t.as_table().at(key);
  constexpr std::int64_t kMax = std::int64_t{1} << 62;
  if (!v.is_integer() || v.as_integer() < 0 || v.as_integer() > kMax) {
    return tl::make_unexpected(
        key_error(file, key, "must be an integer from 0 (none) to 4611686018427387904"));
  }
  return static_cast<std::uint64_t>(v.as_integer());
}

}  // namespace

Result<void> read_recordings_table(const toml::value& t, const std::string& file,
                                   RecordingsConfig& out) {
  if (!t.is_table()) {
    return fail(ErrorCode::kInvalidArgument, file + ": recordings: must be a table");
  }
  for (const auto& [key, value] : t.as_table()) {
    if (key == "max_total_bytes" || key == "min_free_bytes") {
      auto n = bytes_key(t, file, key);
      if (!n) return tl::make_unexpected(n.error());
      (key == "max_total_bytes" ? out.max_total_bytes : out.min_free_bytes) = *n;
    } else if (key == "keep") {
      if (!value.is_string()) return tl::make_unexpected(key_error(file, key, "must be a string"));
      const std::string text = value.as_string().str.substr(0, 64);
      auto d = parse_duration(text);
      if (!d) return tl::make_unexpected(key_error(file, key, d.error().message));
      out.keep = *d;
    } else {
      return tl::make_unexpected(key_error(file, key, "unknown key"));
    }
  }
  return ok();
}

}  // namespace sekisho::broker
