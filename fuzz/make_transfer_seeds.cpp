// Writes the seed corpora of transfer_fuzz and wire_fuzz: SFTP conversations (open, read,
// write, close, the requests that change the target, extensions) under each policy, legacy scp
// streams, and worker messages as the core reads them.
// Usage: make_transfer_seeds TRANSFER_DIR WIRE_DIR
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

void u32(std::string& o, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) o.push_back(static_cast<char>((v >> s) & 0xff));
}
void u64(std::string& o, std::uint64_t v) {
  u32(o, static_cast<std::uint32_t>(v >> 32));
  u32(o, static_cast<std::uint32_t>(v));
}
void str(std::string& o, const std::string& s) {
  u32(o, static_cast<std::uint32_t>(s.size()));
  o += s;
}
std::string packet(std::uint8_t type, const std::string& body) {
  std::string p;
  u32(p, static_cast<std::uint32_t>(body.size() + 1));
  p.push_back(static_cast<char>(type));
  return p + body;
}
std::string idp(std::uint8_t type, std::uint32_t id, const std::string& rest) {
  std::string b;
  u32(b, id);
  return packet(type, b + rest);
}
std::string s(const std::string& v) {
  std::string o;
  str(o, v);
  return o;
}
std::string n32(std::uint32_t v) {
  std::string o;
  u32(o, v);
  return o;
}
std::string n64(std::uint64_t v) {
  std::string o;
  u64(o, v);
  return o;
}

// The fuzzer's framing: chunks of at most 127 bytes, bit 7 set for the target's bytes.
struct Conversation {
  std::string out;
  explicit Conversation(std::uint8_t mode) { out.push_back(static_cast<char>(mode)); }
  Conversation& add(bool from_target, const std::string& bytes) {
    for (std::size_t at = 0; at < bytes.size() || bytes.empty(); at += 127) {
      const std::string piece = bytes.substr(at, 127);
      out.push_back(static_cast<char>((from_target ? 0x80 : 0) | piece.size()));
      out += piece;
      if (bytes.empty()) break;
    }
    return *this;
  }
  Conversation& client(const std::string& b) { return add(false, b); }
  Conversation& target(const std::string& b) { return add(true, b); }
};

void write(const std::filesystem::path& dir, const std::string& name, const std::string& data) {
  std::ofstream(dir / name, std::ios::binary) << data;
}

std::string sftp_session(std::uint8_t mode) {
  Conversation c(mode);
  c.client(packet(1, n32(3)));
  c.target(packet(2, n32(3) + s("posix-rename@openssh.com") + s("1")));
  c.client(idp(3, 1, s("/srv/up.bin") + n32(0x1a) + n32(0)));
  c.target(idp(102, 1, s("H1")));
  c.client(idp(6, 2, s("H1") + n64(0) + s(std::string(200, 'u'))));
  c.target(idp(101, 2, n32(0) + s("") + s("")));
  c.client(idp(4, 3, s("H1")));
  c.client(idp(3, 4, s("/etc/hosts") + n32(0x01) + n32(0)));
  c.target(idp(102, 4, s("H2")));
  c.client(idp(5, 5, s("H2") + n64(0) + n32(4096)) + idp(5, 6, s("H2") + n64(100) + n32(4096)));
  c.target(idp(103, 6, s(std::string(50, 'b'))) + idp(103, 5, s(std::string(100, 'a'))));
  c.client(idp(4, 7, s("H2")));
  c.client(idp(3, 8, s("/etc/shadow") + n32(0) + n32(0)));
  return c.out;
}

std::string sftp_changes(std::uint8_t mode) {
  Conversation c(mode);
  c.client(idp(13, 1, s("/srv/rm")));
  c.client(idp(18, 2, s("/srv/a") + s("/srv/b")));
  c.client(idp(14, 3, s("/srv/d") + n32(0)));
  c.client(idp(15, 4, s("/srv/d")));
  c.client(idp(9, 5, s("/srv/b") + n32(0x05) + n64(0) + n32(0600)));
  c.client(idp(20, 6, s("/srv/b") + s("/srv/ln")));
  c.client(idp(200, 7, s("hardlink@openssh.com") + s("/srv/b") + s("/srv/h")));
  c.client(idp(200, 8, s("posix-rename@openssh.com") + s("/srv/b") + s("/srv/c")));
  c.client(idp(200, 9, s("statvfs@openssh.com") + s("/")));
  c.client(idp(200, 10, s("copy-data") + s("H1") + n64(0) + n64(0) + s("H2") + n64(0)));
  c.client(idp(200, 11, s("x-unknown@example.com") + s("data")));
  c.client(idp(42, 12, "junk"));
  for (std::uint32_t id = 1; id <= 8; ++id) c.target(idp(101, id, n32(id % 2) + s("") + s("")));
  c.client(idp(11, 13, s("/srv")));
  c.target(idp(102, 13, s("D1")));
  c.client(idp(12, 14, s("D1")));
  c.client(idp(5, 15, s("D1") + n64(0) + n32(10)));
  return c.out;
}

std::string scp_stream(bool upload, const std::string& command) {
  Conversation c(static_cast<std::uint8_t>(1 | (upload ? 8 : 0)));
  c.client(command);
  c.client("T1700000000 0 1700000000 0\nC0644 300 a.bin\n" + std::string(300, 'x') +
           std::string(1, '\0'));
  c.client("D0755 0 sub\nC0600 5 b.bin\nhello" + std::string(1, '\0') + "E\n");
  c.client("\x01scp: cannot read\nC0644 0 empty\n");
  return c.out;
}

std::string frame(const std::string& json) {
  std::string o;
  u32(o, static_cast<std::uint32_t>(json.size()));
  return o + json;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_transfer_seeds TRANSFER_DIR WIRE_DIR\n");
    return 2;
  }
  const std::filesystem::path transfer = argv[1], wire = argv[2];
  std::filesystem::create_directories(transfer);
  std::filesystem::create_directories(wire);
  for (int mode : {0x06, 0x04, 0x02, 0x00}) {
    write(transfer, "sftp-session-" + std::to_string(mode),
          sftp_session(static_cast<std::uint8_t>(mode)));
    write(transfer, "sftp-changes-" + std::to_string(mode),
          sftp_changes(static_cast<std::uint8_t>(mode)));
  }
  write(transfer, "scp-upload", scp_stream(true, "scp -r -d -t /srv/in"));
  write(transfer, "scp-download", scp_stream(false, "scp -v -p -f -- -odd.name"));
  write(transfer, "scp-not-scp", scp_stream(false, "scp -f x </dev/null; id"));
  write(
      wire, "hello",
      frame(
          R"({"type":"auth_pubkey","target":"root@web01","key":"ssh-ed25519 AAAA","signed":true})"));
  write(
      wire, "transfer",
      frame(
          R"({"type":"file_transfer","path":"/srv/a","direction":"upload","size":5,"sha256":"","protocol":"sftp"})") +
          frame(
              R"({"type":"file_transfer","operation":"rename","path":"/a","new_path":"/b","result":"ok","protocol":"sftp"})"));
  write(wire, "secret", frame(R"({"type":"credential","secret":"s3cr3t","kind":"password"})"));
  write(wire, "bad", frame(R"({"type":1})") + frame("[1,2]") + std::string("\xff\xff\xff\xff", 4));
  write(wire, "cut", frame(R"({"type":"session_end","reason":"exit 0"})").substr(0, 12));
  return 0;
}
