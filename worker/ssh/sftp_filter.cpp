// The SFTP v3 filter of worker/ssh/file_transfer.hpp: every client request is parsed and checked
// against the session's policy by what OpenSSH's sftp-server does with it.
#include <algorithm>
#include <iterator>
#include <utility>

#include "worker/ssh/file_transfer.hpp"

namespace sekisho::worker {

namespace {

// SFTP v3 (draft-ietf-secsh-filexfer-02) packet types, flags and status codes used here.
constexpr std::uint8_t kFxpInit = 1, kFxpOpen = 3, kFxpClose = 4, kFxpRead = 5, kFxpWrite = 6,
                       kFxpLstat = 7, kFxpFstat = 8, kFxpSetstat = 9, kFxpFsetstat = 10,
                       kFxpOpendir = 11, kFxpReaddir = 12, kFxpRemove = 13, kFxpMkdir = 14,
                       kFxpRmdir = 15, kFxpRealpath = 16, kFxpStat = 17, kFxpRename = 18,
                       kFxpReadlink = 19, kFxpSymlink = 20, kFxpExtended = 200;
constexpr std::uint8_t kFxpStatus = 101, kFxpHandle = 102, kFxpData = 103;
constexpr std::uint32_t kPflagRead = 0x01, kPflagWrite = 0x02, kPflagAppend = 0x04,
                        kPflagCreat = 0x08, kPflagTrunc = 0x10;
constexpr std::uint32_t kAttrSize = 0x01;
constexpr std::uint32_t kFxOk = 0, kFxFailure = 4, kFxPermissionDenied = 3, kFxOpUnsupported = 8;
constexpr std::size_t kMaxHandle = 256;

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
  std::string_view rest() const { return d_; }

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

// Whether the attributes that open `c` set a size: a truncation, which changes file contents.
bool sets_size(Cursor c) {
  std::uint32_t flags = 0;
  return !c.u32(flags) || (flags & kAttrSize) != 0;  // unreadable attributes count as a size
}

// OpenSSH sftp-server extensions that only read metadata or flush: they move no file contents.
bool metadata_extension(std::string_view name) {
  static constexpr std::string_view kNames[] = {"statvfs@openssh.com",
                                                "fstatvfs@openssh.com",
                                                "fsync@openssh.com",
                                                "limits@openssh.com",
                                                "expand-path@openssh.com",
                                                "home-directory",
                                                "users-groups-by-id@openssh.com"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

}  // namespace

struct SftpFilter::File {
  std::string path;
  bool can_read = false, can_write = false;  // what sftp-server opened it for
  bool wrote = false, read = false;
  OrderedHash up, down;
  explicit File(std::size_t* budget) : up(budget), down(budget) {}
};

SftpFilter::SftpFilter(TransferPolicy policy) : policy_(policy) {}
SftpFilter::~SftpFilter() = default;

void SftpFilter::lose(const std::string& why) {
  if (!lost_.empty()) return;
  lost_ = why;
  std::vector<std::string> handles;
  for (const auto& [handle, file] : files_) {
    file->up.lose("the SFTP stream could not be followed");
    file->down.lose("the SFTP stream could not be followed");
    handles.push_back(handle);
  }
  for (const auto& h : handles) close_file(h, "SFTP tracking stopped: " + why);
  opens_.clear();
  reads_.clear();
  client_buf_.clear();
  target_buf_.clear();
}

bool SftpFilter::lose_forward(const std::string& why) {
  lose(why);
  return false;  // nothing of a stream out of sync goes on
}

void SftpFilter::from_client(std::string_view in, std::string& to_target, std::string& to_client) {
  if (!lost_.empty()) return;
  client_buf_.append(in);
  std::size_t at = 0;
  while (lost_.empty() && client_buf_.size() - at >= 4) {
    const std::uint32_t len = be32(std::string_view(client_buf_).substr(at, 4));
    if (len == 0 || len > kMaxSftpPacket) {
      lose("a client packet of " + std::to_string(len) + " bytes");
      return;
    }
    if (client_buf_.size() - at - 4 < len) break;
    const auto packet = std::string_view(client_buf_).substr(at, 4 + len);
    if (client_packet(packet, to_client)) to_target.append(packet);
    at += 4 + len;
  }
  if (lost_.empty()) client_buf_.erase(0, at);
}

void SftpFilter::from_target(std::string_view in, std::string& to_client) {
  if (!lost_.empty()) return;
  target_buf_.append(in);
  std::size_t at = 0;
  while (lost_.empty() && target_buf_.size() - at >= 4) {
    const std::uint32_t len = be32(std::string_view(target_buf_).substr(at, 4));
    if (len == 0 || len > kMaxSftpPacket) {
      lose("a target packet of " + std::to_string(len) + " bytes");
      return;
    }
    if (target_buf_.size() - at - 4 < len) break;
    const auto packet = std::string_view(target_buf_).substr(at, 4 + len);
    target_packet(packet.substr(4));
    if (!lost_.empty()) return;
    to_client.append(packet);
    at += 4 + len;
  }
  if (lost_.empty()) target_buf_.erase(0, at);
}

bool SftpFilter::deny(std::uint32_t id, std::uint32_t code, const std::string& message,
                      std::string& to_client) {
  std::string reply;
  reply.push_back(static_cast<char>(kFxpStatus));
  put_u32(reply, id);
  put_u32(reply, code);
  put_str(reply, message);
  put_str(reply, "en");
  put_u32(to_client, static_cast<std::uint32_t>(reply.size()));
  to_client.append(reply);
  return false;  // never forwarded
}

bool SftpFilter::refuse(const char* what, std::uint32_t id, std::string_view path,
                        std::string& to_client) {
  refusals_.push_back(std::string(what) + " " + clean_transfer_path(path));
  return deny(id, kFxPermissionDenied, std::string(what) + " refused by the gateway's policy",
              to_client);
}

bool SftpFilter::client_packet(std::string_view packet, std::string& to_client) {
  Cursor c(packet.substr(4));
  std::uint8_t type = 0;
  std::uint32_t id = 0;
  if (!c.u8(type)) return lose_forward("an empty client packet");
  if (type == kFxpInit) return true;  // the version: no id, moves nothing
  if (!c.u32(id)) return lose_forward("a client packet without an id");
  switch (type) {
    case kFxpOpen:
      return open_packet(id, c.rest(), to_client);
    case kFxpClose: {
      std::string_view handle;
      if (!c.str(handle)) return lose_forward("a malformed CLOSE");
      close_file(std::string(handle), "");
      return true;
    }
    case kFxpRead:
      return read_packet(id, c.rest(), to_client);
    case kFxpWrite:
      return write_packet(id, c.rest(), to_client);
    case kFxpLstat:
    case kFxpFstat:
    case kFxpOpendir:
    case kFxpReaddir:
    case kFxpRealpath:
    case kFxpStat:
    case kFxpReadlink:
      return true;  // names and attributes only
    case kFxpSetstat:
    case kFxpFsetstat:
    case kFxpRemove:
    case kFxpMkdir:
    case kFxpRmdir:
    case kFxpRename:
    case kFxpSymlink:
      return change_packet(type, id, c.rest(), to_client);
    case kFxpExtended:
      return extended_packet(id, c.rest(), to_client);
    default:
      return deny(id, kFxOpUnsupported, "request not supported by the gateway", to_client);
  }
}

bool SftpFilter::open_packet(std::uint32_t id, std::string_view body, std::string& to_client) {
  Cursor c(body);
  std::string_view path;
  std::uint32_t pflags = 0;
  if (!c.str(path) || !c.u32(pflags)) return lose_forward("a malformed OPEN");
  // sftp-server (flags_from_portable): O_RDWR with READ and WRITE, O_WRONLY with WRITE alone,
  // O_RDONLY otherwise, even with neither flag; CREAT and TRUNC change the file in any mode.
  Open open{clean_transfer_path(path), false, false};
  open.can_write = (pflags & kPflagWrite) != 0;
  open.can_read = (pflags & kPflagRead) != 0 || !open.can_write;
  const bool changes = open.can_write || (pflags & (kPflagCreat | kPflagTrunc)) != 0;
  if (changes && !policy_.upload) return refuse("upload", id, path, to_client);
  if (open.can_read && !policy_.download) return refuse("download", id, path, to_client);
  if (opens_.size() >= kMaxSftpRequests || files_.size() + opens_.size() >= kMaxSftpHandles) {
    return deny(id, kFxFailure, "too many open files for the gateway", to_client);
  }
  open.append = (pflags & kPflagAppend) != 0;
  opens_[id] = std::move(open);
  return true;
}

const SftpFilter::File* SftpFilter::file(std::string_view handle) const {
  auto f = files_.find(std::string(handle));
  return f == files_.end() ? nullptr : f->second.get();
}

bool SftpFilter::read_packet(std::uint32_t id, std::string_view body, std::string& to_client) {
  Cursor c(body);
  std::string_view handle;
  std::uint64_t offset = 0;
  std::uint32_t len = 0;
  if (!c.str(handle) || !c.u64(offset) || !c.u32(len)) return lose_forward("a malformed READ");
  // Only handles this filter saw opened for reading: a guessed or untracked one moves nothing.
  auto f = files_.find(std::string(handle));
  if (f == files_.end() || !f->second->can_read) {
    return refuse("download", id, f == files_.end() ? "(unknown handle)" : f->second->path,
                  to_client);
  }
  if (reads_.size() < kMaxSftpRequests) {
    reads_[id] = Read{std::string(handle), offset};
  } else {
    f->second->down.lose("too many outstanding reads");
  }
  return true;
}

bool SftpFilter::write_packet(std::uint32_t id, std::string_view body, std::string& to_client) {
  Cursor c(body);
  std::string_view handle, data;
  std::uint64_t offset = 0;
  if (!c.str(handle) || !c.u64(offset) || !c.str(data)) return lose_forward("a malformed WRITE");
  auto f = files_.find(std::string(handle));
  if (f == files_.end() || !f->second->can_write) {
    return refuse("upload", id, f == files_.end() ? "(unknown handle)" : f->second->path,
                  to_client);
  }
  f->second->wrote = true;
  f->second->up.add(offset, data);
  return true;
}

bool SftpFilter::track_change(std::uint32_t id, FileChange change, std::string& to_client) {
  if (changes_.size() >= kMaxSftpRequests) {
    return deny(id, kFxFailure, "too many requests in flight for the gateway", to_client);
  }
  change.path = clean_transfer_path(change.path);
  change.new_path = clean_transfer_path(change.new_path);
  changes_[id] = std::move(change);
  return true;
}

bool SftpFilter::change_packet(std::uint8_t type, std::uint32_t id, std::string_view body,
                               std::string& to_client) {
  Cursor c(body);
  std::string_view first, second;
  if (!c.str(first)) return lose_forward("a malformed request " + std::to_string(type));
  if (type == kFxpRename || type == kFxpSymlink) {
    if (!c.str(second)) return lose_forward("a malformed request " + std::to_string(type));
  }
  FileChange change;
  change.path = first;
  switch (type) {
    case kFxpSetstat:
    case kFxpFsetstat:
      change.operation = "setstat";
      if (type == kFxpFsetstat) {
        const File* f = file(first);
        change.path = f != nullptr ? f->path : "(unknown handle)";
      }
      if (sets_size(c) && !policy_.upload) return refuse("upload", id, change.path, to_client);
      break;
    case kFxpRemove:
      change.operation = "remove";
      break;
    case kFxpMkdir:
      change.operation = "mkdir";
      break;
    case kFxpRmdir:
      change.operation = "rmdir";
      break;
    case kFxpRename:
      change.operation = "rename";
      break;
    default:  // SYMLINK: OpenSSH's sftp-server reads (target, link), the reverse of the draft
      change.operation = "symlink";
      break;
  }
  change.new_path = second;
  return track_change(id, std::move(change), to_client);
}

bool SftpFilter::extended_packet(std::uint32_t id, std::string_view body, std::string& to_client) {
  Cursor c(body);
  std::string_view name;
  if (!c.str(name)) return lose_forward("a malformed EXTENDED");
  if (metadata_extension(name)) return true;
  if (name == "copy-data") return copy_data(id, c.rest(), to_client);
  const bool rename = name == "posix-rename@openssh.com", link = name == "hardlink@openssh.com";
  if (rename || link || name == "lsetstat@openssh.com") {
    std::string_view first, second;
    if (!c.str(first)) return lose_forward("a malformed " + std::string(name));
    FileChange change{"setstat", std::string(first), "", ""};
    if (rename || link) {
      if (!c.str(second)) return lose_forward("a malformed " + std::string(name));
      change.operation = rename ? "rename" : "hardlink";
      change.new_path = second;
    } else if (sets_size(c) && !policy_.upload) {
      return refuse("upload", id, first, to_client);
    }
    return track_change(id, std::move(change), to_client);
  }
  // An extension this parser does not know could move file contents: it never passes.
  return deny(id, kFxOpUnsupported, "extension not supported by the gateway", to_client);
}

// copy-data (OpenSSH 9): the server copies between two open handles. It needs a handle opened
// for reading and one opened for writing, both seen (and allowed) here; it is a change.
bool SftpFilter::copy_data(std::uint32_t id, std::string_view body, std::string& to_client) {
  Cursor c(body);
  std::string_view from, to;
  std::uint64_t from_offset = 0, length = 0, to_offset = 0;
  if (!c.str(from) || !c.u64(from_offset) || !c.u64(length) || !c.str(to) || !c.u64(to_offset)) {
    return lose_forward("a malformed copy-data");
  }
  const File* src = file(from);
  const File* dst = file(to);
  if (src == nullptr || !src->can_read) return refuse("download", id, "(copy-data)", to_client);
  if (dst == nullptr || !dst->can_write) return refuse("upload", id, "(copy-data)", to_client);
  return track_change(id, FileChange{"copy", src->path, dst->path, ""}, to_client);
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
    if (handle.size() > kMaxHandle) return;  // untracked: READ/WRITE on it are refused
    auto file = std::make_unique<File>(&budget_);
    file->path = std::move(open.path);
    file->can_read = open.can_read;
    file->can_write = open.can_write;
    if (open.append && open.can_write) file->up.lose("file opened for appending");
    const std::string key(handle);
    files_.erase(key);  // a reused handle: the target closed the old one
    files_.emplace(key, std::move(file));
  } else if (type == kFxpStatus) {
    std::uint32_t code = 0;
    if (!c.u32(id) || !c.u32(code)) return lose("a malformed STATUS");
    opens_.erase(id);
    reads_.erase(id);  // EOF or an error: no bytes
    if (auto ch = changes_.find(id); ch != changes_.end()) {
      ch->second.result = code == kFxOk ? "ok" : "failed";
      changed_.push_back(std::move(ch->second));
      changes_.erase(ch);
    }
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
  const bool upload = file.wrote || (file.can_write && !file.read);
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
  for (auto& [id, change] : changes_) {
    change.result = "no reply";
    changed_.push_back(std::move(change));
  }
  changes_.clear();
}

std::vector<TransferEvent> SftpFilter::take_events() { return std::exchange(events_, {}); }
std::vector<FileChange> SftpFilter::take_changes() { return std::exchange(changed_, {}); }
std::vector<std::string> SftpFilter::take_refusals() { return std::exchange(refusals_, {}); }

}  // namespace sekisho::worker
