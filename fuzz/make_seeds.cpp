// Writes the seed corpus: small valid recordings under the fuzz target's fixed data key (text,
// binary, every record kind; closed and cut), and a text index payload.
// Usage: make_seeds DIR
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "recorder/format.hpp"
#include "recorder/recording.hpp"
#include "recorder/text_index.hpp"

namespace {

using namespace sekisho;
using namespace sekisho::recorder;

DataKey fixed_key() {
  DataKey k;
  k.key = Secret(32);
  for (std::size_t i = 0; i < 32; ++i) k.key.data()[i] = 0x5a;
  k.wrapped = Bytes(60, 0x11);
  return k;
}

Record rec(RecordKind kind, std::int64_t at, std::string data) {
  Record r;
  r.kind = kind;
  r.at_us = at;
  r.data = std::move(data);
  return r;
}

void write(const std::filesystem::path& dir, const std::string& name, int n, bool close) {
  const auto path = dir / name;
  std::filesystem::remove(path);
  Header h;
  h.session_id = name;
  h.user = "alice";
  h.host = "web01";
  h.account = "root";
  h.protocol = "ssh";
  h.start_unix_us = 1;
  WriterOptions o;
  o.chunk_bytes = 256;
  auto signer = SigningKey::generate();
  auto w = Writer::create(path, h, fixed_key(), signer->public_pem(), o);
  for (int i = 0; i < n; ++i) {
    (void)(*w)->append(rec(RecordKind::kOutput, i * 10, "\x1b[1mroot@web01\x1b[0m:~# ls\r\n"));
    (void)(*w)->append(rec(RecordKind::kInput, i * 10 + 1, "ls\r"));
    (void)(*w)->append(rec(RecordKind::kOutput, i * 10 + 2, std::string("\0\xff\xc3", 3)));
  }
  Record rs;
  rs.kind = RecordKind::kResize;
  rs.at_us = n * 10;
  rs.cols = 100;
  rs.rows = 40;
  (void)(*w)->append(rs);
  (void)(*w)->append(rec(RecordKind::kMarker, n * 10, "window ends"));
  Record ft;
  ft.kind = RecordKind::kFileTransfer;
  ft.at_us = n * 10 + 1;
  ft.transfer = {true, "/etc/passwd", 10, {}};
  (void)(*w)->append(ft);
  if (close) (void)(*w)->close([&](ByteView m) { return signer->sign(m); });
  w->reset();
  std::filesystem::remove(seek_index_path(path));
  std::filesystem::remove(text_index_path(path));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  write(dir, "closed-small.skr", 2, true);
  write(dir, "closed-chunks.skr", 12, true);
  write(dir, "crashed.skr", 12, false);
  TextIndex t;
  t.add(0, rec(RecordKind::kOutput, 5, "root@web01:~# passwd\r\n"));
  t.add(1, rec(RecordKind::kInput, 7, "sudo -i\r"));
  const Bytes b = t.encode();
  std::ofstream(dir / "text-index.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return 0;
}
