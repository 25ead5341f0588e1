// sessions (listing and search of recorded sessions) and export (a recording as a file).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "base/files.hpp"
#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/replay_timing.hpp"
#include "cli/table.hpp"

namespace sekisho::cli {

namespace {

constexpr std::size_t kMaxSearchText = 256;
constexpr std::size_t kMaxKillReason = 200;

// Percent-encodes a query value: everything but RFC 3986's unreserved characters.
std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string query(
    std::initializer_list<std::pair<const char*, const std::optional<std::string>*>> params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (!value->has_value()) continue;
    out += (out.empty() ? "?" : "&") + std::string(key) + "=" + url_encode(**value);
  }
  return out;
}

std::int64_t integer(const nlohmann::json& object, const std::string& key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// The state, and when retention deleted the recording (the row outlives it).
std::string state_cell(const nlohmann::json& s) {
  const std::string deleted = cell(s, "recording_deleted_at");
  if (deleted.empty()) return cell(s, "state");
  return cell(s, "state") + " (recording deleted " + deleted.substr(0, 10) + ")";
}

std::string duration_cell(const nlohmann::json& s) {
  if (cell(s, "state") == "open") return "open";
  return format_offset(integer(s, "duration_us"));
}

// Writes to a file that appears only once complete: FILE.part (0600, never an existing file),
// then fsync and rename. Exports hold what privileged users saw, hence the private mode.
class ExportFile {
 public:
  static Result<ExportFile> create(const std::string& path) {
    const std::string part = path + ".part";
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail(ErrorCode::kIo, "cannot create " + part + ": " + errno_text(errno));
    return ExportFile(fd, path, part);
  }
  ExportFile(ExportFile&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), path_(o.path_), part_(o.part_) {}
  ExportFile(const ExportFile&) = delete;
  ExportFile& operator=(const ExportFile&) = delete;
  ExportFile& operator=(ExportFile&&) = delete;
  ~ExportFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(part_.c_str());
    }
  }

  bool write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = "cannot write " + part_ + ": " + errno_text(errno);
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  const std::string& error() const { return error_; }

  Result<void> commit() {
    if (::fsync(fd_) != 0 || ::close(std::exchange(fd_, -1)) != 0) {
      ::unlink(part_.c_str());
      return fail(ErrorCode::kIo, "cannot write " + part_ + ": " + errno_text(errno));
    }
    if (::rename(part_.c_str(), path_.c_str()) != 0) {
      ::unlink(part_.c_str());
      return fail(ErrorCode::kIo, "cannot rename " + part_ + ": " + errno_text(errno));
    }
    return ok();
  }

 private:
  ExportFile(int fd, std::string path, std::string part)
      : fd_(fd), path_(std::move(path)), part_(std::move(part)) {}
  int fd_;
  std::string path_, part_, error_;
};

}  // namespace

Result<void> run_sessions_list(const GlobalOptions& global, const SessionListOptions& options) {
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->get(
      "/v1/sessions" +
      query({{"user", &options.user}, {"host", &options.host}, {"since", &options.since}}));
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : body->value("sessions", nlohmann::json::array())) {
    const bool ended = cell(s, "state") != "open";
    rows.push_back({cell(s, "id"), cell(s, "user"), cell(s, "account") + "@" + cell(s, "host"),
                    cell(s, "protocol"), cell(s, "started_at"), duration_cell(s),
                    ended ? format_size(static_cast<std::uint64_t>(integer(s, "size_bytes"))) : "",
                    state_cell(s), cell(s, "request_id")});
  }
  if (rows.empty()) {
    std::cout << "no sessions" << std::endl;
    return ok();
  }
  std::cout << format_table(
      {"ID", "USER", "TARGET", "PROTOCOL", "STARTED", "DURATION", "SIZE", "STATE", "REQUEST"},
      rows);
  return ok();
}

Result<void> run_sessions_search(const GlobalOptions& global, const std::string& text) {
  if (text.empty() || text.size() > kMaxSearchText) {
    return fail(ErrorCode::kInvalidArgument,
                "search text must be 1-" + std::to_string(kMaxSearchText) + " bytes");
  }
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  const std::optional<std::string> value = text;
  auto body = (*gateway)->get("/v1/sessions/search" + query({{"text", &value}}));
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : body->value("hits", nlohmann::json::array())) {
    rows.push_back({cell(h, "session"), format_offset(integer(h, "at_us")), cell(h, "kind"),
                    cell(h, "user"), cell(h, "target"), cell(h, "context")});
  }
  for (const auto& u : body->value("unreadable", nlohmann::json::array())) {
    std::cerr << "sekisho: warning: session " << printable(cell(u, "session"))
              << " not searched: " << printable(cell(u, "problem")) << std::endl;
  }
  if (rows.empty()) {
    std::cout << "no matches in " << integer(*body, "sessions_searched") << " sessions"
              << std::endl;
    return ok();
  }
  std::cout << format_table({"SESSION", "AT", "KIND", "USER", "TARGET", "CONTEXT"}, rows);
  if (body->value("truncated", false)) {
    std::cout << "(more matches not shown)" << std::endl;
  }
  return ok();
}

Result<void> run_sessions_kill(const GlobalOptions& global, const std::string& id,
                               const std::string& reason) {
  if (auto r = check_path_name("session id", id); !r) return r;
  if (reason.empty() || reason.size() > kMaxKillReason) {
    return fail(ErrorCode::kInvalidArgument,
                "--reason must be 1-" + std::to_string(kMaxKillReason) + " bytes");
  }
  if (reason.find_first_of("\r\n") != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument, "--reason must be one line");
  }
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto body = (*gateway)->post("/v1/sessions/" + id + "/kill", {{"reason", reason}});
  if (!body) return tl::make_unexpected(body.error());
  if (global.json) {
    print_json(*body);
    return ok();
  }
  std::cout << "session " << printable(id) << " closed: " << printable(cell(*body, "reason"))
            << std::endl;
  return ok();
}

Result<void> run_export(const GlobalOptions& global, const ExportOptions& options) {
  if (options.format == "png" || options.format == "mp4") {
    return fail(ErrorCode::kUnsupported, "export --format " + options.format +
                                             " is for RDP recordings, which this gateway does "
                                             "not record yet; use asciicast or skr");
  }
  if (auto r = check_path_name("session id", options.id); !r) return r;
  if (!options.out && options.format == "skr" && ::isatty(STDOUT_FILENO) == 1) {
    return fail(ErrorCode::kInvalidArgument,
                "a .skr recording is binary; give --out FILE or redirect standard output");
  }
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  const std::string path = "/v1/sessions/" + options.id + "/export?format=" + options.format;
  if (!options.out) {
    bool written = true;
    auto r = (*gateway)->download(path, [&](std::string_view piece) {
      written = std::fwrite(piece.data(), 1, piece.size(), stdout) == piece.size();
      return written;
    });
    if (!written) return fail(ErrorCode::kIo, "cannot write to standard output");
    if (!r) return r;
    if (std::fflush(stdout) != 0) return fail(ErrorCode::kIo, "cannot write to standard output");
    return ok();
  }
  auto file = ExportFile::create(*options.out);
  if (!file) return tl::make_unexpected(file.error());
  auto r = (*gateway)->download(path, [&](std::string_view piece) { return file->write(piece); });
  if (!file->error().empty()) return fail(ErrorCode::kIo, file->error());
  if (!r) return r;
  if (auto c = file->commit(); !c) return c;
  std::cout << "session " << options.id << " exported to " << *options.out << std::endl;
  return ok();
}

}  // namespace sekisho::cli
