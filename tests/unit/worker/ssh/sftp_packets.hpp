// Hand-built SFTP v3 packets for the SftpFilter unit tests (draft-ietf-secsh-filexfer-02).
#pragma once

#include <cstdint>
#include <string>

namespace sekisho::worker::sftp_test {

inline void u32(std::string& o, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) o.push_back(static_cast<char>((v >> s) & 0xff));
}
inline void u64(std::string& o, std::uint64_t v) {
  u32(o, static_cast<std::uint32_t>(v >> 32));
  u32(o, static_cast<std::uint32_t>(v));
}
inline void str(std::string& o, const std::string& s) {
  u32(o, static_cast<std::uint32_t>(s.size()));
  o += s;
}
inline std::string packet(std::uint8_t type, const std::string& body) {
  std::string p;
  u32(p, static_cast<std::uint32_t>(body.size() + 1));
  p.push_back(static_cast<char>(type));
  return p + body;
}
inline std::string open_req(std::uint32_t id, const std::string& path, std::uint32_t pflags) {
  std::string b;
  u32(b, id);
  str(b, path);
  u32(b, pflags);
  u32(b, 0);  // attrs: no flags
  return packet(3, b);
}
inline std::string handle_rep(std::uint32_t id, const std::string& h) {
  std::string b;
  u32(b, id);
  str(b, h);
  return packet(102, b);
}
inline std::string write_req(std::uint32_t id, const std::string& h, std::uint64_t off,
                             const std::string& data) {
  std::string b;
  u32(b, id);
  str(b, h);
  u64(b, off);
  str(b, data);
  return packet(6, b);
}
inline std::string read_req(std::uint32_t id, const std::string& h, std::uint64_t off,
                            std::uint32_t n) {
  std::string b;
  u32(b, id);
  str(b, h);
  u64(b, off);
  u32(b, n);
  return packet(5, b);
}
inline std::string data_rep(std::uint32_t id, const std::string& data) {
  std::string b;
  u32(b, id);
  str(b, data);
  return packet(103, b);
}
inline std::string status_rep(std::uint32_t id, std::uint32_t code) {
  std::string b;
  u32(b, id);
  u32(b, code);
  str(b, "");
  str(b, "");
  return packet(101, b);
}
inline std::string close_req(std::uint32_t id, const std::string& h) {
  std::string b;
  u32(b, id);
  str(b, h);
  return packet(4, b);
}
inline std::string extended_req(std::uint32_t id, const std::string& name,
                                const std::string& rest) {
  std::string b;
  u32(b, id);
  str(b, name);
  return packet(200, b + rest);
}
// The STATUS code of the one reply in `c` for request `id`, or -1.
inline int status_of(const std::string& c, std::uint32_t id) {
  if (c.size() < 13 || c[4] != char(101)) return -1;
  std::string want;
  u32(want, id);
  if (c.substr(5, 4) != want) return -1;
  return static_cast<unsigned char>(c[12]);
}

}  // namespace sekisho::worker::sftp_test
