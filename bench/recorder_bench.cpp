// Recording cost, each figure next to a peer measured in the same run, on the same session:
//   size and CPU      vs  tlog-rec (Debian tlog, file writer) and asciicast v2 JSON;
//   append throughput (MB/s of session bytes, writer thread included);
//   seek latency      in a large recording (default 1 GiB), with and without the seek index;
//   search            over many recordings: text index vs decoding every chunk.
// The session is captured from real commands run in a pty (ls, top, ps, od, cat of sources),
// with their timing; tlog-rec gets the same bytes with the same timing from an emitter child.
// Usage: recorder_bench [--session-kb N] [--big-mb N] [--recordings N] [--dir DIR]
//        recorder_bench --emit FILE   (internal: the program tlog-rec records)
#include <pty.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "recorder/recording.hpp"

namespace {

using namespace sekisho;
using namespace sekisho::recorder;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Piece {
  std::int64_t at_us;
  std::string data;
};

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double cpu_seconds(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Runs `script` in a pty and returns what the terminal received, piece by piece, with times.
std::vector<Piece> capture(const std::string& script) {
  int master = -1;
  winsize ws{40, 120, 0, 0};
  const pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
  if (pid == 0) {
    setenv("TERM", "xterm-256color", 1);
    execl("/bin/bash", "bash", "-c", script.c_str(), nullptr);
    _exit(127);
  }
  std::vector<Piece> out;
  const auto start = Clock::now();
  char buf[4096];
  for (;;) {
    const ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    out.push_back({us.count(), std::string(buf, static_cast<std::size_t>(n))});
  }
  waitpid(pid, nullptr, 0);
  close(master);
  return out;
}

std::string session_script(std::size_t kb) {
  return "i=0; total=0; while [ $total -lt " + std::to_string(kb * 1024) +
         " ]; do i=$((i+1)); "
         "o=$( { ls -la --color=always /usr/bin | sed -n \"$((i*40)),+60p\"; "
         "[ $((i % 8)) = 1 ] && top -b -n1 -w 120 | head -40; ps aux --sort=-%cpu | head -30; "
         "od -A x -t x1z -N 1024 -j $((i*1024)) /usr/bin/bash; "
         "f=$(ls /usr/include/*.h | sed -n \"${i}p\"); [ -n \"$f\" ] && head -150 \"$f\"; "
         "seq $((i*100)) $((i*100+50)); } 2>&1 ); printf '%s\\n' \"$o\"; "
         "total=$((total + ${#o})); done";
}

void save_pieces(const fs::path& p, const std::vector<Piece>& pieces) {
  std::ofstream out(p, std::ios::binary);
  for (const auto& pc : pieces) {
    const std::uint64_t hdr[2] = {static_cast<std::uint64_t>(pc.at_us), pc.data.size()};
    out.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
    out.write(pc.data.data(), static_cast<std::streamsize>(pc.data.size()));
  }
}

// The emitter tlog-rec runs: writes the captured pieces to its terminal with their timing.
int emit(const char* file) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t hdr[2];
  const auto start = Clock::now();
  std::string data;
  while (in.read(reinterpret_cast<char*>(hdr), sizeof hdr)) {
    data.resize(hdr[1]);
    in.read(data.data(), static_cast<std::streamsize>(hdr[1]));
    while (std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count() <
           static_cast<std::int64_t>(hdr[0])) {
      usleep(200);
    }
    if (write(1, data.data(), data.size()) < 0) return 1;
  }
  return 0;
}

struct TlogResult {
  bool ran = false;
  std::uint64_t bytes = 0;
  double cpu = 0;
};

TlogResult run_tlog(const fs::path& dir, const char* self) {
  TlogResult r;
  const fs::path log = dir / "tlog.json";
  int master = -1;
  winsize ws{40, 120, 0, 0};
  const pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
  if (pid == 0) {
    execlp("tlog-rec", "tlog-rec", "--writer=file", ("--file-path=" + log.string()).c_str(),
           "--limit-action=pass", self, "--emit", (dir / "session.bin").c_str(), nullptr);
    _exit(127);
  }
  char buf[65536];
  while (read(master, buf, sizeof buf) > 0) {
  }
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  close(master);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(log)) return r;
  r.ran = true;
  r.bytes = fs::file_size(log);
  r.cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
          static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return r;
}

struct Keys {
  Secret recording_key = random_secret(32);
  SigningKey signer = *SigningKey::generate();
};

std::unique_ptr<Writer> writer(const Keys& k, const fs::path& p, const std::string& session) {
  Header h;
  h.session_id = session;
  h.user = "alice";
  h.host = "web01";
  h.account = "root";
  h.protocol = "ssh";
  auto key = new_data_key(k.recording_key, session);
  auto w = Writer::create(p, h, std::move(*key), k.signer.public_pem());
  if (!w) {
    std::fprintf(stderr, "recorder_bench: %s\n", w.error().message.c_str());
    std::exit(1);
  }
  return std::move(*w);
}

void append_all(Writer& w, const std::vector<Piece>& pieces, std::int64_t offset_us) {
  for (const auto& p : pieces) {
    Record r;
    r.at_us = p.at_us + offset_us;
    r.data = p.data;
    while (w.append(r) == AppendStatus::kQueueFull) usleep(100);
  }
}

std::unique_ptr<Reader> reader(const Keys& k, const fs::path& p) {
  auto r = Reader::open(p, [&](const Header& h, ByteView wrapped) {
    return unwrap_data_key(k.recording_key, h.session_id, wrapped);
  });
  if (!r) {
    std::fprintf(stderr, "recorder_bench: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  return std::move(*r);
}

std::uint64_t size_of(const fs::path& p) { return fs::exists(p) ? fs::file_size(p) : 0; }

struct Args {
  std::size_t session_kb = 8192;
  std::size_t big_mb = 1024;
  int recordings = 200;
  fs::path dir = fs::temp_directory_path();
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--emit") return emit(argv[2]);
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--session-kb")
      a.session_kb = std::stoul(argv[i + 1]);
    else if (k == "--big-mb")
      a.big_mb = std::stoul(argv[i + 1]);
    else if (k == "--recordings")
      a.recordings = std::stoi(argv[i + 1]);
    else if (k == "--dir")
      a.dir = argv[i + 1];
  }
  const fs::path dir = a.dir / ("recorder-bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const Keys keys;

  // 1. The session, from real commands.
  const auto pieces = capture(session_script(a.session_kb));
  std::uint64_t raw = 0;
  for (const auto& p : pieces) raw += p.data.size();
  save_pieces(dir / "session.bin", pieces);
  std::printf("session: %zu pieces, %.2f MB of terminal output over %.1f s\n", pieces.size(),
              static_cast<double>(raw) / 1e6, static_cast<double>(pieces.back().at_us) / 1e6);

  // 2. Ours: size, CPU, throughput.
  const fs::path skr = dir / "session.skr";
  double cpu0 = cpu_seconds(RUSAGE_SELF);
  auto t0 = Clock::now();
  auto w = writer(keys, skr, "bench");
  append_all(*w, pieces, 0);
  if (!w->close([&](ByteView m) { return keys.signer.sign(m); })) return 1;
  const double wall = since(t0), cpu = cpu_seconds(RUSAGE_SELF) - cpu0;
  const std::uint64_t ours = size_of(skr),
                      ours_idx = size_of(seek_index_path(skr)) + size_of(text_index_path(skr));
  std::printf(
      "sekisho .skr: %llu bytes (+ %llu index), %.3f s CPU, %.1f MB/s appended "
      "(%.1f MB per CPU-second)\n",
      static_cast<unsigned long long>(ours), static_cast<unsigned long long>(ours_idx), cpu,
      static_cast<double>(raw) / 1e6 / wall, static_cast<double>(raw) / 1e6 / cpu);

  // 3. Peers: asciicast JSON (our export) and tlog-rec.
  cpu0 = cpu_seconds(RUSAGE_SELF);
  {
    auto r = reader(keys, skr);
    std::ofstream cast(dir / "session.cast", std::ios::binary);
    if (!export_asciicast(*r, cast)) return 1;
  }
  const double cast_cpu = cpu_seconds(RUSAGE_SELF) - cpu0;
  const std::uint64_t cast = size_of(dir / "session.cast");
  std::printf("asciicast v2: %llu bytes (export %.3f s CPU)\n",
              static_cast<unsigned long long>(cast), cast_cpu);
  const auto tlog = run_tlog(dir, argv[0]);
  if (tlog.ran) {
    std::printf("tlog-rec: %llu bytes, %.3f s CPU (tlog-rec and its emitter child)\n",
                static_cast<unsigned long long>(tlog.bytes), tlog.cpu);
    std::printf(
        "ratio size ours/tlog: %.3f (goal <= 0.3), with indexes %.3f; "
        "CPU ours/tlog: %.2f\n",
        static_cast<double>(ours) / static_cast<double>(tlog.bytes),
        static_cast<double>(ours + ours_idx) / static_cast<double>(tlog.bytes),
        cpu / std::max(tlog.cpu, 1e-6));
  } else {
    // Debian's tlog-rec needs /run/utmp (systemd-tmpfiles creates it; containers may lack it).
    std::printf("tlog-rec: not run (missing, or failed: is there a /run/utmp?): no tlog ratio\n");
  }
  std::printf("ratio size ours/asciicast: %.3f; ours/raw output: %.3f\n",
              static_cast<double>(ours) / static_cast<double>(cast),
              static_cast<double>(ours) / static_cast<double>(raw));

  // 3b. Throughput where fdatasync costs nothing (tmpfs): what one writer thread's zstd and
  // AES-GCM sustain, the session appended 20 times.
  if (fs::exists("/dev/shm")) {
    const fs::path shm = fs::path("/dev/shm") / ("recorder-bench-" + std::to_string(getpid()));
    cpu0 = cpu_seconds(RUSAGE_SELF);
    t0 = Clock::now();
    auto ws = writer(keys, shm, "shm");
    for (int i = 0; i < 20; ++i) append_all(*ws, pieces, i * (pieces.back().at_us + 1));
    if (!ws->close([&](ByteView m) { return keys.signer.sign(m); })) return 1;
    const double shm_wall = since(t0), shm_cpu = cpu_seconds(RUSAGE_SELF) - cpu0;
    std::printf(
        "append throughput on tmpfs: %.0f MB/s wall, %.0f MB per CPU-second "
        "(appender and writer thread)\n",
        20 * static_cast<double>(raw) / 1e6 / shm_wall,
        20 * static_cast<double>(raw) / 1e6 / shm_cpu);
    for (const auto& p : {shm, seek_index_path(shm), text_index_path(shm)}) fs::remove(p);
  }

  // 4. Seek in a large recording: the session interleaved with incompressible output (binary
  // dumps), so that the file reaches the size without hours of input.
  const fs::path big = dir / "big.skr";
  t0 = Clock::now();
  cpu0 = cpu_seconds(RUSAGE_SELF);
  w = writer(keys, big, "big");
  std::mt19937_64 rng(1);
  std::string noise(4096, '\0');
  std::int64_t offset = 0;
  Record r;
  while (true) {
    append_all(*w, pieces, offset);
    offset += pieces.back().at_us + 1000;
    for (int i = 0; i < 2048; ++i) {
      for (auto& c : noise) c = static_cast<char>(rng());
      r.at_us = offset + i;
      r.data = noise;
      while (w->append(r) == AppendStatus::kQueueFull) usleep(100);
    }
    offset += 3000;
    // The file lags the queue by at most 16 MiB; one round adds 8+ MB.
    if (size_of(big) >= a.big_mb * 1024 * 1024) break;
  }
  if (!w->close([&](ByteView m) { return keys.signer.sign(m); })) return 1;
  std::printf("big recording: %.1f MB written in %.1f s (fdatasync per chunk), %.1f s CPU\n",
              static_cast<double>(size_of(big)) / 1e6, since(t0), cpu_seconds(RUSAGE_SELF) - cpu0);
  std::vector<double> lat;
  std::uint64_t decoded = 0, chunks = 0;
  for (int i = 0; i < 20; ++i) {
    const auto s = Clock::now();
    auto rd = reader(keys, big);
    const std::int64_t at =
        static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(rd->duration_us()));
    (void)rd->replay(at, [](const Record&) { return false; });
    lat.push_back(since(s) * 1000);
    decoded = std::max(decoded, rd->decoded_chunks());
    chunks = rd->chunk_count();
  }
  std::sort(lat.begin(), lat.end());
  fs::remove(seek_index_path(big));
  auto s = Clock::now();
  auto rd = reader(keys, big);
  (void)rd->replay(rd->duration_us() / 2, [](const Record&) { return false; });
  const double noindex = since(s) * 1000;
  std::printf(
      "seek (open + first record) in %llu chunks: median %.2f ms, max %.2f ms "
      "(goal < 100 ms), at most %llu chunk decoded; without the seek index %.1f ms\n",
      static_cast<unsigned long long>(chunks), lat[lat.size() / 2], lat.back(),
      static_cast<unsigned long long>(decoded), noindex);
  rd.reset();
  fs::remove(big);
  fs::remove(text_index_path(big));

  // 5. Search over many recordings: each holds a slice of the session; every tenth a needle.
  const std::size_t per = std::max<std::size_t>(1, pieces.size() / 8);
  for (int i = 0; i < a.recordings; ++i) {
    auto wr = writer(keys, dir / ("s" + std::to_string(i) + ".skr"), "s" + std::to_string(i));
    const std::size_t from = (static_cast<std::size_t>(i) * per / 3) % pieces.size();
    std::vector<Piece> slice(
        pieces.begin() + static_cast<std::ptrdiff_t>(from),
        pieces.begin() + static_cast<std::ptrdiff_t>(std::min(pieces.size(), from + per)));
    if (i % 10 == 0)
      slice.push_back({slice.back().at_us + 1, "rm -rf /srv/needle-" + std::to_string(i) + "\r\n"});
    append_all(*wr, slice, 0);
    if (!wr->close([&](ByteView m) { return keys.signer.sign(m); })) return 1;
  }
  auto search_all = [&](std::size_t& hits) {
    const auto st = Clock::now();
    hits = 0;
    for (int i = 0; i < a.recordings; ++i) {
      auto rr = reader(keys, dir / ("s" + std::to_string(i) + ".skr"));
      hits += rr->search("needle-", 100)->size();
    }
    return since(st) * 1000;
  };
  std::size_t hits_indexed = 0, hits_decoded = 0;
  const double indexed = search_all(hits_indexed);
  for (int i = 0; i < a.recordings; ++i)
    fs::remove(text_index_path(dir / ("s" + std::to_string(i) + ".skr")));
  const double decoded_ms = search_all(hits_decoded);
  std::printf(
      "search %d recordings: %.1f ms with the text index, %.1f ms decoding every chunk "
      "(ratio %.2f); %zu/%zu hits\n",
      a.recordings, indexed, decoded_ms, indexed / decoded_ms, hits_indexed, hits_decoded);
  fs::remove_all(dir);
  return hits_indexed == hits_decoded && hits_indexed > 0 ? 0 : 1;
}
