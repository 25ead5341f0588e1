#include "broker/file_transfer.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

namespace sekisho::broker {

namespace {

// SFTP v3 (draft-ietf-secsh-filexfer-02) packet types and flags used here.
constexpr std::uint8_t kFxpOpen = 3, kFxpClose = 4, kFxpRead = 5, kFxpWrite = 6;
constexpr std::uint8_t kFxpStatus = 101, kFxpHandle = 102, kFxpData = 103;
constexpr std::uint32_t kPflagRead = 0x01, kPflagWrite = 0x02, kPflagAppend = 0x04,
                        kPflagCreat = 0x08, kPflagTrunc = 0x10;
constexpr std::uint32_t kFxPermissionDenied = 3;
constexpr std::size_t kMaxHandle = 256;
constexpr std::size_t kMaxScpLine = 8 * 1024;

// Reads big-endian fields from one packet; any read past the end fails the whole parse.
class Cursor {
 public:
  explicit Cursor(std::string_view d) : d_(d) {}
  bool u8(std::uint8_t& v) {
    if (d_.size() < 1) return false;
    v = static_cast<std::uint8_t>(d_[0]);
    d_.remove_prefix(1);
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (d_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(d_[i]);
    d_.remove_prefix(4);
    return true;
  }
  bool u64(std::uint64_t& v) {
    std::uint32_t hi = 0, lo = 0;
    if (!u32(hi) || !u32(lo)) return false;
    v = (std::uint64_t{hi} << 32) | lo;
    return true;
  }
  bool str(std::string_view& v) {
    std::uint32_t n = 0;
    if (!u32(n) || d_.size() < n) return false;
    v = d_.substr(0, n);
    d_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view d_;
};

void put_u32(std::string& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xff));
}

void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

std::uint32_t be32(std::string_view d) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(d[i]);
  return v;
}

// Paths go to the recording and the audit log: bounded, control characters replaced.
std::string clean_path(std::string_view p) {
  std::string s(p.substr(0, kMaxTransferPath));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

}  // namespace

// --- OrderedHash --------------------------------------------------------------------------------

struct OrderedHash::Ctx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(md); }
};

OrderedHash::OrderedHash(std::size_t* budget) : ctx_(std::make_unique<Ctx>()), budget_(budget) {
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) {
    lost_ = "hash unavailable";
  }
}

OrderedHash::~OrderedHash() { release(); }

void OrderedHash::release() {
  *budget_ += waiting_bytes_;
  waiting_bytes_ = 0;
  waiting_.clear();
}

void OrderedHash::lose(const std::string& why) {
  if (lost_.empty()) lost_ = why;
  release();
}

void OrderedHash::add(std::uint64_t offset, std::string_view data) {
  if (data.empty()) return;
  if (offset > (std::uint64_t{1} << 62)) return lose("an offset beyond 2^62");
  end_ = std::max(end_, offset + data.size());
  if (!lost_.empty()) return;
  if (offset < next_) return lose("bytes at offset " + std::to_string(offset) + " sent twice");
  if (offset == next_) {
    EVP_DigestUpdate(ctx_->md, data.data(), data.size());
    next_ += data.size();
    drain();
    return;
  }
  if (data.size() > *budget_) return lose("too many bytes out of order");
  auto [it, inserted] = waiting_.emplace(offset, std::string(data));
  if (!inserted) return lose("bytes at offset " + std::to_string(offset) + " sent twice");
  *budget_ -= data.size();
  waiting_bytes_ += data.size();
}

void OrderedHash::drain() {
  while (!waiting_.empty() && waiting_.begin()->first <= next_) {
    auto node = waiting_.extract(waiting_.begin());
    *budget_ += node.mapped().size();
    waiting_bytes_ -= node.mapped().size();
    if (node.key() < next_) return lose("overlapping pieces");
    EVP_DigestUpdate(ctx_->md, node.mapped().data(), node.mapped().size());
    next_ += node.mapped().size();
  }
}

std::optional<Digest> OrderedHash::finish(std::string& note) {
  if (lost_.empty() && !waiting_.empty()) lose("a gap in the file's bytes");
  if (lost_.empty() && next_ != end_) lose("a gap in the file's bytes");
  if (!lost_.empty()) {
    note = "sha256 not computed: " + lost_;
    return std::nullopt;
  }
  Digest d{};
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx_->md, d.data(), &n) != 1 || n != d.size()) {
    note = "sha256 not computed: hash failed";
    return std::nullopt;
  }
  lost_ = "finished";
  return d;
}

// --- SFTP ---------------------------------------------------------------------------------------

struct SftpFilter::File {
  std::string path;
  bool upload = false;  // opened for writing
  bool wrote = false, read = false;
  OrderedHash up, down;
  explicit File(std::size_t* budget) : up(budget), down(budget) {}
};

SftpFilter::SftpFilter(TransferPolicy policy) : policy_(policy) {}
SftpFilter::~SftpFilter() = default;

void SftpFilter::lose(const std::string& why) {
  if (!lost_.empty()) return;
  lost_ = why;
  for (auto& [handle, file] : files_) {
    file->up.lose("the SFTP stream could not be followed");
    file->down.lose("the SFTP stream could not be followed");
  }
  std::vector<std::string> handles;
  for (const auto& [handle, file] : files_) handles.push_back(handle);
  for (const auto& h : handles) close_file(h, "SFTP tracking stopped: " + why);
  opens_.clear();
  reads_.clear();
}

bool SftpFilter::lose_forward(const std::string& why) {
  lose(why);
  return true;
}

void SftpFilter::from_client(std::string_view in, std::string& to_target, std::string& to_client) {
  if (!lost_.empty()) {
    to_target.append(in);
    return;
  }
  client_buf_.append(in);
  std::size_t at = 0;
  while (client_buf_.size() - at >= 4) {
    const std::uint32_t len = be32(std::string_view(client_buf_).substr(at, 4));
    if (len == 0 || len > kMaxSftpPacket) {
      lose("a client packet of " + std::to_string(len) + " bytes");
      break;
    }
    if (client_buf_.size() - at - 4 < len) break;
    const auto packet = std::string_view(client_buf_).substr(at, 4 + len);
    if (client_packet(packet, to_client)) to_target.append(packet);
    at += 4 + len;
    if (!lost_.empty()) break;
  }
  if (!lost_.empty()) {
    to_target.append(client_buf_, at);
    client_buf_.clear();
    return;
  }
  client_buf_.erase(0, at);
}

void SftpFilter::from_target(std::string_view in, std::string& to_client) {
  if (!lost_.empty()) {
    to_client.append(in);
    return;
  }
  target_buf_.append(in);
  std::size_t at = 0;
  while (target_buf_.size() - at >= 4) {
    const std::uint32_t len = be32(std::string_view(target_buf_).substr(at, 4));
    if (len == 0 || len > kMaxSftpPacket) {
      lose("a target packet of " + std::to_string(len) + " bytes");
      break;
    }
    if (target_buf_.size() - at - 4 < len) break;
    const auto packet = std::string_view(target_buf_).substr(at, 4 + len);
    target_packet(packet.substr(4));
    to_client.append(packet);
    at += 4 + len;
    if (!lost_.empty()) break;
  }
  if (!lost_.empty()) {
    to_client.append(target_buf_, at);
    target_buf_.clear();
    return;
  }
  target_buf_.erase(0, at);
}

bool SftpFilter::client_packet(std::string_view packet, std::string& to_client) {
  Cursor c(packet.substr(4));
  std::uint8_t type = 0;
  std::uint32_t id = 0;
  if (!c.u8(type)) return lose_forward("an empty client packet");
  if (type == kFxpOpen) {
    std::string_view path;
    std::uint32_t pflags = 0;
    if (!c.u32(id) || !c.str(path) || !c.u32(pflags)) return lose_forward("a malformed OPEN");
    const bool writes = (pflags & (kPflagWrite | kPflagAppend | kPflagCreat | kPflagTrunc)) != 0;
    const bool reads = (pflags & kPflagRead) != 0;
    if ((writes && !policy_.upload) || (reads && !policy_.download)) {
      const char* what = writes && !policy_.upload ? "upload" : "download";
      refusals_.push_back(std::string(what) + " " + clean_path(path));
      std::string reply;
      const std::string message = std::string(what) + " refused by the gateway's policy";
      reply.push_back(static_cast<char>(kFxpStatus));
      put_u32(reply, id);
      put_u32(reply, kFxPermissionDenied);
      put_str(reply, message);
      put_str(reply, "en");
      put_u32(to_client, static_cast<std::uint32_t>(reply.size()));
      to_client.append(reply);
      return false;  // never forwarded
    }
    if (opens_.size() < kMaxSftpRequests) opens_[id] = Open{clean_path(path), pflags};
  } else if (type == kFxpClose) {
    std::string_view handle;
    if (!c.u32(id) || !c.str(handle)) return lose_forward("a malformed CLOSE");
    close_file(std::string(handle), "");
  } else if (type == kFxpRead) {
    std::string_view handle;
    std::uint64_t offset = 0;
    std::uint32_t len = 0;
    if (!c.u32(id) || !c.str(handle) || !c.u64(offset) || !c.u32(len)) {
      return lose_forward("a malformed READ");
    }
    auto f = files_.find(std::string(handle));
    if (f != files_.end()) {
      if (reads_.size() < kMaxSftpRequests) {
        reads_[id] = Read{std::string(handle), offset};
      } else {
        f->second->down.lose("too many outstanding reads");
      }
    }
  } else if (type == kFxpWrite) {
    std::string_view handle, data;
    std::uint64_t offset = 0;
    if (!c.u32(id) || !c.str(handle) || !c.u64(offset) || !c.str(data)) {
      return lose_forward("a malformed WRITE");
    }
    auto f = files_.find(std::string(handle));
    if (f != files_.end()) {
      f->second->wrote = true;
      f->second->up.add(offset, data);
    }
  }
  return true;
}

void SftpFilter::target_packet(std::string_view p) {
  Cursor c(p);
  std::uint8_t type = 0;
  std::uint32_t id = 0;
  if (!c.u8(type)) return lose("an empty target packet");
  if (type == kFxpHandle) {
    std::string_view handle;
    if (!c.u32(id) || !c.str(handle)) return lose("a malformed HANDLE");
    auto o = opens_.find(id);
    if (o == opens_.end()) return;
    Open open = std::move(o->second);
    opens_.erase(o);
    if (handle.size() > kMaxHandle || files_.size() >= kMaxSftpHandles) return;
    auto file = std::make_unique<File>(&budget_);
    file->path = std::move(open.path);
    file->upload = (open.pflags & (kPflagWrite | kPflagAppend)) != 0;
    if ((open.pflags & kPflagAppend) != 0) file->up.lose("file opened for appending");
    const std::string key(handle);
    files_.erase(key);  // a reused handle: the target closed the old one
    files_.emplace(key, std::move(file));
  } else if (type == kFxpStatus) {
    if (!c.u32(id)) return lose("a malformed STATUS");
    opens_.erase(id);
    reads_.erase(id);  // EOF or an error: no bytes
  } else if (type == kFxpData) {
    std::string_view data;
    if (!c.u32(id) || !c.str(data)) return lose("a malformed DATA");
    auto r = reads_.find(id);
    if (r == reads_.end()) return;
    auto f = files_.find(r->second.handle);
    if (f != files_.end()) {
      f->second->read = true;
      f->second->down.add(r->second.offset, data);
    }
    reads_.erase(r);
  }
}

void SftpFilter::close_file(const std::string& handle, const std::string& note) {
  auto f = files_.find(handle);
  if (f == files_.end()) return;
  File& file = *f->second;
  const bool upload = file.wrote || (file.upload && !file.read);
  OrderedHash& h = upload ? file.up : file.down;
  TransferEvent e;
  e.path = file.path;
  e.upload = upload;
  e.size = h.size();
  e.sha256 = h.finish(e.note);
  if (!note.empty()) e.note = e.note.empty() ? note : note + "; " + e.note;
  events_.push_back(std::move(e));
  for (auto it = reads_.begin(); it != reads_.end();) {
    it = it->second.handle == handle ? reads_.erase(it) : std::next(it);
  }
  files_.erase(f);
}

void SftpFilter::finish() {
  std::vector<std::string> handles;
  for (const auto& [handle, file] : files_) handles.push_back(handle);
  for (const auto& h : handles) close_file(h, "not closed before the session ended");
}

std::vector<TransferEvent> SftpFilter::take_events() { return std::exchange(events_, {}); }
std::vector<std::string> SftpFilter::take_refusals() { return std::exchange(refusals_, {}); }

// --- legacy scp ---------------------------------------------------------------------------------

namespace {

// Splits a command line on blanks, undoing simple single/double quoting. Bounded by the exec
// request's own limit.
std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char ch : s) {
    if (quote != 0) {
      if (ch == quote) {
        quote = 0;
      } else {
        cur.push_back(ch);
      }
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
      in_word = true;
    } else if (ch == ' ' || ch == '\t') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur.push_back(ch);
      in_word = true;
    }
    if (words.size() > 64) break;
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

std::unique_ptr<ScpTracker> ScpTracker::from_command(std::string_view command) {
  auto words = split_words(command);
  if (words.empty()) return nullptr;
  const std::string& prog = words[0];
  if (prog != "scp" && !(prog.size() > 4 && prog.ends_with("/scp"))) return nullptr;
  int mode = 0;  // 't' or 'f'
  bool dir_target = false;
  std::string path;
  bool options = true;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string& a = words[i];
    if (options && a == "--") {
      options = false;
    } else if (options && a.size() > 1 && a[0] == '-') {
      for (char f : a.substr(1)) {
        if (f == 't' || f == 'f') {
          if (mode != 0 && mode != f) return nullptr;
          mode = f;
        } else if (f == 'd' || f == 'r') {
          dir_target = true;
        }
      }
    } else if (path.empty()) {
      path = a;
      options = false;
    } else {
      path += " " + a;  // a name with blanks, unquoted: keep it whole
    }
  }
  if (mode == 0 || path.empty()) return nullptr;
  return std::make_unique<ScpTracker>(mode == 't', clean_path(path), dir_target);
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
  return clean_path(join(base, name));
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

}  // namespace sekisho::broker
