// asciicast v2 export: a view of the recording for asciinema, not a storage format.
#include <nlohmann/json.hpp>

#include "recorder/recording.hpp"
#include "recorder/text_index.hpp"

namespace sekisho::recorder {

namespace {

std::string seconds(std::int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(us / 1000000),
                static_cast<long long>(us % 1000000));
  return buf;
}

void event(std::ostream& out, std::int64_t at_us, const char* code, const std::string& data) {
  out << '[' << seconds(at_us) << ", \"" << code << "\", " << nlohmann::json(data).dump() << "]\n";
}

std::string transfer_text(const FileTransfer& t) {
  return std::string("file ") + (t.upload ? "upload " : "download ") + t.path + " (" +
         std::to_string(t.size) + " bytes, sha256 " + hex_encode(t.sha256) + ")";
}

}  // namespace

Result<void> export_asciicast(Reader& reader, std::ostream& out) {
  const Header& h = reader.header();
  nlohmann::json head = {
      {"version", 2},
      {"width", h.cols},
      {"height", h.rows},
      {"timestamp", h.start_unix_us / 1000000},
      {"title", sanitize_utf8(h.user + " → " + h.account + "@" + h.host + " (" + h.session_id + ")",
                              nullptr)}};
  out << head.dump() << '\n';
  // A UTF-8 character split across two reads is joined again, not replaced: only bytes that are
  // invalid in the stream become U+FFFD.
  std::string carry_out, carry_in;
  std::int64_t last = 0;
  auto result = reader.replay(0, [&](const Record& r) {
    last = r.at_us;
    switch (r.kind) {
      case RecordKind::kOutput:
      case RecordKind::kInput: {
        const bool output = r.kind == RecordKind::kOutput;
        const std::string text = sanitize_utf8(r.data, output ? &carry_out : &carry_in);
        if (!text.empty()) event(out, r.at_us, output ? "o" : "i", text);
        break;
      }
      case RecordKind::kResize:
        event(out, r.at_us, "r", std::to_string(r.cols) + "x" + std::to_string(r.rows));
        break;
      case RecordKind::kMarker:
        event(out, r.at_us, "m", sanitize_utf8(r.data, nullptr));
        break;
      case RecordKind::kFileTransfer:
        event(out, r.at_us, "m", sanitize_utf8(transfer_text(r.transfer), nullptr));
        break;
      default:
        break;  // RDP records have no terminal view
    }
    return static_cast<bool>(out);
  });
  if (!result) return result;
  if (!carry_out.empty()) event(out, last, "o", sanitize_utf8(carry_out, nullptr));
  if (!carry_in.empty()) event(out, last, "i", sanitize_utf8(carry_in, nullptr));
  if (!out) return fail(ErrorCode::kIo, "writing the asciicast export failed");
  return ok();
}

}  // namespace sekisho::recorder
