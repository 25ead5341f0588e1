// The legacy scp protocol of worker/ssh/file_transfer.hpp (`scp -O`): ScpTracker.
#include <algorithm>
#include <charconv>
#include <utility>

#include "worker/ssh/file_transfer.hpp"

namespace sekisho::worker {

namespace {

constexpr std::size_t kMaxScpLine = 8 * 1024;

// A byte a shell reads as itself in an unquoted word, wherever it stands: letters, digits, the
// punctuation below, and bytes >= 0x80 (UTF-8 names). Everything else (blanks, quotes, `$`, `;`,
// `|`, `&`, `<`, `>`, globs, `#`, `!`, braces, backslash, control characters) is refused.
bool plain_byte(unsigned char c) {
  if (c >= 0x80) return true;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("/._-+,:@%=").find(static_cast<char>(c)) != std::string_view::npos;
}

// PATH as OpenSSH's scp puts it on the command line: one plain word, "~" allowed at its start.
bool plain_path(std::string_view p) {
  if (p.empty()) return false;
  if (p[0] == '~') p.remove_prefix(1);
  return std::all_of(p.begin(), p.end(), [](char c) { return plain_byte(c); });
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

std::unique_ptr<ScpTracker> ScpTracker::from_command(std::string_view command) {
  // OpenSSH scp.c: "scp%s%s%s%s" from " -v", " -r", " -p", " -d" in this order, then
  // " -t " or " -f ", then "-- " when PATH starts with '-', then PATH, unquoted.
  std::string_view rest = command;
  if (!rest.starts_with("scp ")) return nullptr;
  rest.remove_prefix(4);
  bool dir_target = false;
  for (std::string_view flag : {"-v ", "-r ", "-p ", "-d "}) {
    if (!rest.starts_with(flag)) continue;
    rest.remove_prefix(3);
    if (flag == "-r " || flag == "-d ") dir_target = true;
  }
  bool upload = false;
  if (rest.starts_with("-t ")) {
    upload = true;
  } else if (!rest.starts_with("-f ")) {
    return nullptr;
  }
  rest.remove_prefix(3);
  const bool dashes = rest.starts_with("-- ");
  if (dashes) rest.remove_prefix(3);
  if (!plain_path(rest) || (!dashes && rest[0] == '-')) return nullptr;
  return std::make_unique<ScpTracker>(upload, clean_transfer_path(rest), dir_target);
}

ScpTracker::ScpTracker(bool upload, std::string path, bool dir_target)
    : upload_(upload), path_(std::move(path)), dir_target_(dir_target) {}

std::string ScpTracker::file_path(const std::string& name, std::string& note) const {
  std::string base;
  if (upload_) {
    // The sink writes PATH/NAME when PATH is a directory and PATH itself otherwise; scp says -d
    // (or -r) when it must be a directory. Without that, one file is reported as PATH with a note.
    if (!dir_target_ && dirs_.empty() && path_.back() != '/') {
      const auto slash = path_.rfind('/');
      const std::string last = slash == std::string::npos ? path_ : path_.substr(slash + 1);
      if (last != name) note = "if " + path_ + " is a directory, the file is " + join(path_, name);
      return path_;
    }
    base = path_;
  } else {
    // The source sends basenames: the file lies next to PATH (PATH itself for one file).
    const auto slash = path_.rfind('/');
    base = slash == std::string::npos ? "" : path_.substr(0, slash + 1);
  }
  for (const auto& d : dirs_) base = join(base, d);
  return clean_transfer_path(join(base, name));
}

void ScpTracker::line(const std::string& l) {
  if (l.empty()) return lose_line();
  switch (l[0]) {
    case 'T':
      return;  // times: nothing to track
    case 'E':
      if (!dirs_.empty()) dirs_.pop_back();
      return;
    case '\x01':
    case '\x02':
      return;  // a message from the source (a file it could not read)
    case 'C':
    case 'D': {
      // "C0644 SIZE NAME" / "D0755 0 NAME"
      const auto sp1 = l.find(' ');
      const auto sp2 = sp1 == std::string::npos ? sp1 : l.find(' ', sp1 + 1);
      if (sp2 == std::string::npos || sp2 + 1 >= l.size()) return lose_line();
      std::uint64_t size = 0;
      const char* first = l.data() + sp1 + 1;
      const char* last = l.data() + sp2;
      auto [p, ec] = std::from_chars(first, last, size);
      if (ec != std::errc() || p != last || size > (std::uint64_t{1} << 62)) return lose_line();
      const std::string name = l.substr(sp2 + 1);
      if (name.find('/') != std::string::npos || name == ".." || name == ".") return lose_line();
      if (l[0] == 'D') {
        if (dirs_.size() < 64) dirs_.push_back(name);
        return;
      }
      note_.clear();
      current_ = file_path(name, note_);
      hash_ = std::make_unique<OrderedHash>(&budget_);
      offset_ = 0;
      remaining_ = size;
      in_data_ = true;
      if (size == 0) complete();
      return;
    }
    default:
      return lose_line();
  }
}

void ScpTracker::complete() {
  const std::string note = note_;
  TransferEvent e;
  e.path = current_;
  e.upload = upload_;
  e.size = hash_->size();
  e.sha256 = hash_->finish(e.note);
  if (!note.empty()) e.note = e.note.empty() ? note : note + "; " + e.note;
  events_.push_back(std::move(e));
  hash_.reset();
  in_data_ = false;
  skip_ack_ = true;
}

void ScpTracker::feed(std::string_view in) {
  while (!in.empty() && lost_.empty()) {
    if (in_data_) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
      hash_->add(offset_, in.substr(0, n));
      offset_ += n;
      remaining_ -= n;
      in.remove_prefix(n);
      if (remaining_ == 0) complete();
      continue;
    }
    if (skip_ack_) {
      // After a file's bytes the source sends \0, or an error line when it could not read it all.
      skip_ack_ = false;
      if (in[0] == '\0') in.remove_prefix(1);
      continue;
    }
    const auto nl = in.find('\n');
    const auto part = in.substr(0, nl);
    if (line_.size() + part.size() > kMaxScpLine) return lose_line();
    line_.append(part);
    if (nl == std::string_view::npos) return;
    in.remove_prefix(nl + 1);
    std::string l = std::move(line_);
    line_.clear();
    line(l);
  }
}

void ScpTracker::lose_line() {
  if (lost_.empty()) lost_ = "an scp line that could not be parsed";
  line_.clear();
}

void ScpTracker::finish() {
  if (!in_data_ || !hash_) return;
  hash_->lose("the session ended inside the file");
  complete();
}

std::vector<TransferEvent> ScpTracker::take_events() { return std::exchange(events_, {}); }

}  // namespace sekisho::worker
