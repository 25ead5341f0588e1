// Endpoints for recorded sessions (auditor only): listing, text search, replay pages and exports.
// Every use is audited, refusals included, because reading what privileged users did is itself a
// privileged act.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits>
#include <sstream>

#include "broker/api/routes.hpp"
#include "broker/sessions/live_sessions.hpp"
#include "broker/sessions/session_recording.hpp"
#include "storage/sessions.hpp"

namespace sekisho::broker {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxListed = 1000;
constexpr std::size_t kMaxSearchText = 256;
constexpr std::size_t kMaxKillReason = 200;
constexpr std::int64_t kMaxSearchHits = 1000;
constexpr std::size_t kMaxSearchedSessions = 500;
constexpr std::int64_t kDefaultPageBytes = 256 * 1024;
constexpr std::int64_t kMaxPageBytes = 1024 * 1024;
// asciicast is made in memory (a decrypted copy never touches the disk); larger exports are
// refused in favour of the .skr file.
constexpr std::size_t kMaxAsciicastBytes = 256 * 1024 * 1024;

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

json session_json(const storage::SessionRecord& s) {
  auto or_null = [](const std::string& v) { return v.empty() ? json(nullptr) : json(v); };
  const bool ended = !s.ended_at.empty();
  return {{"id", s.id},
          {"user", s.user},
          {"account", s.account},
          {"host", s.host},
          {"protocol", s.protocol},
          {"request_id", or_null(s.request_id)},
          {"started_at", s.started_at},
          {"ended_at", or_null(s.ended_at)},
          {"end_reason", or_null(s.end_reason)},
          {"state", s.state()},
          {"duration_us", ended ? json(s.duration_us) : json(nullptr)},
          {"size_bytes", ended ? json(s.recording_size) : json(nullptr)},
          {"recording_hash", or_null(s.recording_hash)},
          {"recording_deleted_at", or_null(s.recording_deleted_at)}};
}

// Runs `fn` and audits the outcome as `action` on `target`: what was read, or why it was refused.
Result<ApiReply> audited(ApiContext& ctx, const ApiRequest& req, const std::string& action,
                         const std::string& target, json details,
                         const std::function<Result<ApiReply>(json& details)>& fn) {
  auto reply = fn(details);
  if (!reply) details["refused"] = reply.error().message;
  details["source"] = req.source;
  auto seq = ctx.audit.append({req.caller->name, action, target, details});
  if (!seq) return fail(ErrorCode::kInternal, "cannot audit this access: " + seq.error().message);
  return reply;
}

Result<const storage::DataDir*> recordings_of(const ApiContext& ctx) {
  if (ctx.data_dir == nullptr) return fail(ErrorCode::kUnavailable, "no recordings here");
  return ctx.data_dir;
}

// user, host and since: the filters of listings and searches.
Result<storage::SessionFilter> filter_of(const ApiRequest& req, const Clock& clock) {
  storage::SessionFilter f;
  auto user = query_param(req, "user", 64);
  if (!user) return tl::make_unexpected(user.error());
  auto host = query_param(req, "host", 64);
  if (!host) return tl::make_unexpected(host.error());
  auto since = query_param(req, "since", 40);
  if (!since) return tl::make_unexpected(since.error());
  f.user = *user;
  f.host = *host;
  if (since->has_value()) {
    if (auto t = parse_time(**since)) {
      f.since = format_time(*t);
    } else if (auto d = parse_duration(**since)) {
      f.since = format_time(clock.now() - *d);
    } else {
      return fail(ErrorCode::kInvalidArgument,
                  "since: not an ISO 8601 time or a duration such as 30m or 7d");
    }
  }
  return f;
}

Result<storage::SessionRecord> find(ApiContext& ctx, const std::string& id) {
  if (auto r = storage::check_session_id(id); !r) return tl::make_unexpected(r.error());
  std::optional<storage::SessionRecord> found;
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto s = storage::find_session(tx, id);
    if (!s) return tl::make_unexpected(s.error());
    found = std::move(*s);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  if (!found) return fail(ErrorCode::kNotFound, "no session " + id);
  return std::move(*found);
}

Result<std::vector<storage::SessionRecord>> sessions_matching(ApiContext& ctx,
                                                              const storage::SessionFilter& f) {
  std::vector<storage::SessionRecord> out;
  auto r = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto list = storage::list_sessions(tx, f);
    if (!list) return tl::make_unexpected(list.error());
    out = std::move(*list);
    return ok();
  });
  if (!r) return tl::make_unexpected(r.error());
  return out;
}

json filter_json(const storage::SessionFilter& f) {
  json out = json::object();
  if (f.user) out["user"] = *f.user;
  if (f.host) out["host"] = *f.host;
  if (f.since) out["since"] = *f.since;
  return out;
}

Result<ApiReply> sessions_list(ApiContext& ctx, ApiRequest& req) {
  return audited(ctx, req, "session.list", "sessions", {}, [&](json& details) -> Result<ApiReply> {
    auto filter = filter_of(req, ctx.clock);
    if (!filter) return tl::make_unexpected(filter.error());
    filter->limit = kMaxListed;
    details["filter"] = filter_json(*filter);
    auto list = sessions_matching(ctx, *filter);
    if (!list) return tl::make_unexpected(list.error());
    json sessions = json::array();
    for (const auto& s : *list) sessions.push_back(session_json(s));
    details["count"] = sessions.size();
    return ApiReply{200, {{"sessions", sessions}}};
  });
}

const char* kind_name(recorder::RecordKind kind) {
  switch (kind) {
    case recorder::RecordKind::kOutput:
      return "output";
    case recorder::RecordKind::kInput:
      return "input";
    case recorder::RecordKind::kResize:
      return "resize";
    case recorder::RecordKind::kMarker:
      return "marker";
    case recorder::RecordKind::kFileTransfer:
      return "file";
    case recorder::RecordKind::kRdpRect:
      return "rdp_rect";
    case recorder::RecordKind::kRdpKeyFrame:
      return "rdp_key_frame";
    case recorder::RecordKind::kRdpKey:
      return "rdp_key";
    case recorder::RecordKind::kRdpMouse:
      return "rdp_mouse";
  }
  return "unknown";
}

Result<ApiReply> sessions_search(ApiContext& ctx, ApiRequest& req) {
  return audited(
      ctx, req, "session.search", "sessions", {}, [&](json& details) -> Result<ApiReply> {
        auto dir = recordings_of(ctx);
        if (!dir) return tl::make_unexpected(dir.error());
        auto text = query_param(req, "text", kMaxSearchText);
        if (!text) return tl::make_unexpected(text.error());
        if (!text->has_value() || (*text)->empty()) {
          return fail(ErrorCode::kInvalidArgument, "text: required");
        }
        details["text"] = **text;
        auto limit = query_integer(req, "limit", 1, kMaxSearchHits);
        if (!limit) return tl::make_unexpected(limit.error());
        auto filter = filter_of(req, ctx.clock);
        if (!filter) return tl::make_unexpected(filter.error());
        filter->limit = kMaxSearchedSessions;
        auto list = sessions_matching(ctx, *filter);
        if (!list) return tl::make_unexpected(list.error());

        auto left = static_cast<std::size_t>(limit->value_or(100));
        json hits = json::array();
        json unreadable = json::array();
        bool truncated = false;
        for (const auto& s : *list) {
          if (left == 0) {
            truncated = true;
            break;
          }
          if (!s.recording_deleted_at.empty()) continue;  // nothing left to search, not a fault
          auto reader = open_recording(ctx.store, **dir, s);
          auto found =
              reader
                  ? (*reader)->search(**text, left)
                  : Result<std::vector<recorder::SearchHit>>(tl::make_unexpected(reader.error()));
          if (!found) {
            unreadable.push_back({{"session", s.id}, {"problem", found.error().message}});
            continue;
          }
          for (const auto& h : *found) {
            hits.push_back({{"session", s.id},
                            {"user", s.user},
                            {"target", s.account + "@" + s.host},
                            {"at_us", h.at_us},
                            {"kind", kind_name(h.kind)},
                            {"context", h.context}});
          }
          left -= std::min(left, found->size());
        }
        details["hits"] = hits.size();
        return ApiReply{200,
                        {{"hits", hits},
                         {"sessions_searched", list->size()},
                         {"unreadable", unreadable},
                         {"truncated", truncated}}};
      });
}

Result<ApiReply> sessions_show(ApiContext& ctx, ApiRequest& req) {
  return audited(ctx, req, "session.show", req.path_param, {}, [&](json&) -> Result<ApiReply> {
    auto dir = recordings_of(ctx);
    if (!dir) return tl::make_unexpected(dir.error());
    auto session = find(ctx, req.path_param);
    if (!session) return tl::make_unexpected(session.error());
    json out = session_json(*session);
    auto reader = open_recording(ctx.store, **dir, *session);
    if (!reader) {
      out["recording"] = {{"readable", false}, {"problem", reader.error().message}};
    } else {
      const auto& h = (*reader)->header();
      const auto cut = (*reader)->truncated_after();
      out["recording"] = {{"readable", true},
                          {"duration_us", (*reader)->duration_us()},
                          {"chunks", (*reader)->chunk_count()},
                          {"truncated_after", cut ? json(*cut) : json(nullptr)},
                          {"cols", h.cols},
                          {"rows", h.rows}};
    }
    return ApiReply{200, out};
  });
}

json event_json(const recorder::Record& r) {
  json e = {{"at_us", r.at_us}, {"kind", kind_name(r.kind)}};
  switch (r.kind) {
    case recorder::RecordKind::kResize:
      e["cols"] = r.cols;
      e["rows"] = r.rows;
      break;
    case recorder::RecordKind::kMarker:
      e["text"] = r.data;
      break;
    case recorder::RecordKind::kFileTransfer:
      e["upload"] = r.transfer.upload;
      e["path"] = r.transfer.path;
      e["size"] = r.transfer.size;
      e["sha256"] = hex_encode(r.transfer.sha256);
      break;
    default:
      e["data"] = base64(r.data);
  }
  return e;
}

Result<ApiReply> sessions_events(ApiContext& ctx, ApiRequest& req) {
  return audited(
      ctx, req, "session.replay", req.path_param, {}, [&](json& details) -> Result<ApiReply> {
        auto dir = recordings_of(ctx);
        if (!dir) return tl::make_unexpected(dir.error());
        auto from = query_integer(req, "from_us", 0, std::numeric_limits<std::int64_t>::max());
        if (!from) return tl::make_unexpected(from.error());
        auto skip = query_integer(req, "skip", 0, 1'000'000);
        if (!skip) return tl::make_unexpected(skip.error());
        auto max_bytes = query_integer(req, "max_bytes", 1024, kMaxPageBytes);
        if (!max_bytes) return tl::make_unexpected(max_bytes.error());
        const std::int64_t from_us = from->value_or(0);
        details["from_us"] = from_us;
        auto session = find(ctx, req.path_param);
        if (!session) return tl::make_unexpected(session.error());
        auto reader = open_recording(ctx.store, **dir, *session);
        if (!reader) return tl::make_unexpected(reader.error());
        auto page =
            read_event_page(**reader, from_us, skip->value_or(0),
                            static_cast<std::size_t>(max_bytes->value_or(kDefaultPageBytes)));
        if (!page) return tl::make_unexpected(page.error());
        json events = json::array();
        for (const auto& r : page->records) events.push_back(event_json(r));
        details["records"] = events.size();
        const auto cut = (*reader)->truncated_after();
        json next = nullptr;
        if (page->next) next = {{"from_us", page->next->first}, {"skip", page->next->second}};
        return ApiReply{200,
                        {{"session", session->id},
                         {"from_us", from_us},
                         {"duration_us", (*reader)->duration_us()},
                         {"truncated_after", cut ? json(*cut) : json(nullptr)},
                         {"events", std::move(events)},
                         {"next", next}}};
      });
}

// The signed .skr file as it is on disk, read in pieces.
Result<ApiDownload> skr_download(const std::filesystem::path& path, const std::string& id) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fail(ErrorCode::kNotFound, "the recording of session " + id + " is missing");
  auto file = std::shared_ptr<int>(new int(fd), [](int* f) {
    ::close(*f);
    delete f;
  });
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail(ErrorCode::kCorrupt, "the recording of session " + id + " is not a file");
  }
  ApiDownload d{"application/octet-stream", id + ".skr", static_cast<std::uint64_t>(st.st_size),
                nullptr};
  d.read = [file](std::uint64_t offset, std::size_t max) {
    std::string piece(max, '\0');
    const ssize_t n = ::pread(*file, piece.data(), max, static_cast<off_t>(offset));
    piece.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return piece;
  };
  return d;
}

// A stream buffer that refuses to grow past a cap, so that an export cannot exhaust memory.
class CappedBuffer : public std::stringbuf {
 public:
  explicit CappedBuffer(std::size_t cap) : cap_(cap) {}
  bool over() const { return over_; }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (size_ + static_cast<std::size_t>(n) > cap_) {
      over_ = true;
      return 0;
    }
    size_ += static_cast<std::size_t>(n);
    return std::stringbuf::xsputn(s, n);
  }
  int_type overflow(int_type c) override {
    if (size_ + 1 > cap_) {
      over_ = true;
      return traits_type::eof();
    }
    ++size_;
    return std::stringbuf::overflow(c);
  }

 private:
  std::size_t cap_, size_ = 0;
  bool over_ = false;
};

Result<ApiDownload> asciicast_download(ApiContext& ctx, const storage::DataDir& dir,
                                       const storage::SessionRecord& session) {
  auto reader = open_recording(ctx.store, dir, session);
  if (!reader) return tl::make_unexpected(reader.error());
  CappedBuffer buffer(kMaxAsciicastBytes);
  std::ostream out(&buffer);
  if (auto r = recorder::export_asciicast(**reader, out); !r) return tl::make_unexpected(r.error());
  if (buffer.over()) {
    return fail(ErrorCode::kInvalidArgument,
                "the asciicast of session " + session.id + " would exceed 256 MiB; export skr");
  }
  auto text = std::make_shared<std::string>(buffer.str());
  ApiDownload d{"application/x-asciicast", session.id + ".cast", text->size(), nullptr};
  d.read = [text](std::uint64_t offset, std::size_t max) {
    return offset < text->size() ? text->substr(static_cast<std::size_t>(offset), max)
                                 : std::string();
  };
  return d;
}

Result<ApiReply> sessions_export(ApiContext& ctx, ApiRequest& req) {
  return audited(
      ctx, req, "session.export", req.path_param, {}, [&](json& details) -> Result<ApiReply> {
        auto dir = recordings_of(ctx);
        if (!dir) return tl::make_unexpected(dir.error());
        auto format = query_param(req, "format", 16);
        if (!format) return tl::make_unexpected(format.error());
        const std::string f = format->value_or("");
        details["format"] = f;
        if (f == "png" || f == "mp4") {
          return fail(ErrorCode::kInvalidArgument,
                      "format " + f + " is for RDP recordings, which are not recorded yet");
        }
        if (f != "asciicast" && f != "skr") {
          return fail(ErrorCode::kInvalidArgument, "format: must be asciicast or skr");
        }
        auto session = find(ctx, req.path_param);
        if (!session) return tl::make_unexpected(session.error());
        auto path = recording_file(**dir, *session);
        if (!path) return tl::make_unexpected(path.error());
        auto download = f == "skr" ? skr_download(*path, session->id)
                                   : asciicast_download(ctx, **dir, *session);
        if (!download) return tl::make_unexpected(download.error());
        details["bytes"] = download->size;
        ApiReply reply;
        reply.download = std::move(*download);
        return reply;
      });
}

// POST /v1/sessions/ID/kill {reason}: ends a live SSH session now. The reason reaches the user
// and the session's end reason, so it is one short printable line.
Result<ApiReply> sessions_kill(ApiContext& ctx, ApiRequest& req) {
  json details = json::object();
  auto reason = string_field(req.body, "reason", kMaxKillReason);
  if (reason) {
    details["reason"] = *reason;
  }
  return audited(
      ctx, req, "session.kill", req.path_param.substr(0, 64), details,
      [&](json&) -> Result<ApiReply> {
        if (!reason) return tl::make_unexpected(reason.error());
        if (reason->empty()) return fail(ErrorCode::kInvalidArgument, "reason: required");
        for (const char c : *reason) {
          if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return fail(ErrorCode::kInvalidArgument, "reason: must be one line of printable text");
          }
        }
        if (ctx.live_sessions == nullptr) {
          return fail(ErrorCode::kUnavailable,
                      "the SSH gateway is not running here ([ssh] is off)");
        }
        if (req.path_param.empty() || req.path_param.size() > 64) {
          return fail(ErrorCode::kNotFound, "no live SSH session " + req.path_param.substr(0, 64));
        }
        const std::string why = "killed by " + req.caller->name + ": " + *reason;
        if (auto r = ctx.live_sessions->kill(req.path_param, why); !r) {
          return tl::make_unexpected(r.error());
        }
        return ApiReply{200, {{"session", req.path_param}, {"killed", true}, {"reason", why}}};
      });
}

}  // namespace

void add_session_routes(ApiRouter& router, ApiContext& ctx) {
  auto bind = [&ctx](Result<ApiReply> (*fn)(ApiContext&, ApiRequest&)) {
    return [&ctx, fn](ApiRequest& req) { return fn(ctx, req); };
  };
  const Access kAuditor = Access::roles_of({"auditor"});
  // "search" before ":name", which would match it too.
  router.get("/v1/sessions", kAuditor, bind(sessions_list));
  router.get("/v1/sessions/search", kAuditor, bind(sessions_search));
  router.get("/v1/sessions/:name/events", kAuditor, bind(sessions_events));
  router.get("/v1/sessions/:name/export", kAuditor, bind(sessions_export));
  router.get("/v1/sessions/:name", kAuditor, bind(sessions_show));
  router.post("/v1/sessions/:name/kill", Access::roles_of({"auditor", "operator"}),
              bind(sessions_kill));
}

}  // namespace sekisho::broker
