// Audit log throughput, each figure next to a peer measured in the same run:
//   durable single appends  vs  write()+fdatasync() of the same line to a plain file (the disk's
//                               durability floor);
//   batched appends         (events/s, one transaction per batch);
//   chain verify            vs  HMAC-SHA256 alone over the same canonical events (the CPU floor),
//                               and against the 2M events/s goal.
// Usage: audit_bench [--events N] [--single N] [--batch N] [--dir DIR]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "storage/audit_log.hpp"
#include "storage/store.hpp"

namespace {

using namespace sekisho;
using Seconds = std::chrono::duration<double>;

double since(std::chrono::steady_clock::time_point start) {
  return Seconds(std::chrono::steady_clock::now() - start).count();
}

storage::AuditEvent event(long n) {
  return {"alice",
          "session.start",
          "root@web01",
          {{"request", "r-" + std::to_string(n)}, {"source", "192.0.2.10"}, {"n", n}}};
}

struct Args {
  long events = 1'000'000;
  long single = 2000;
  long batch = 1000;
  std::filesystem::path dir = std::filesystem::temp_directory_path();
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--events")
      a.events = std::atol(argv[i + 1]);
    else if (k == "--single")
      a.single = std::atol(argv[i + 1]);
    else if (k == "--batch")
      a.batch = std::atol(argv[i + 1]);
    else if (k == "--dir")
      a.dir = argv[i + 1];
    else {
      std::fprintf(stderr,
                   "usage: audit_bench [--events N] [--single N] [--batch N] [--dir DIR]\n");
      std::exit(2);
    }
  }
  return a;
}

// The peer for durable appends: one line per event, write() + fdatasync() each.
double fsync_floor(const std::filesystem::path& file, long n) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  const std::string line = event(0).details.dump() + "\n";
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    if (::write(fd, line.data(), line.size()) < 0 || ::fdatasync(fd) != 0) std::abort();
  }
  const double s = since(start);
  ::close(fd);
  return static_cast<double>(n) / s;
}

// The peer for verify: HMAC alone over the canonical form of the same events.
double hmac_floor(long n) {
  auto mac = HmacSha256::create(random_secret(32));
  const std::string time = format_time(std::chrono::system_clock::now());
  const std::string details = event(123456).details.dump();
  const std::string canonical =
      storage::canonical_audit_event(time, "alice", "session.start", "root@web01", details);
  Digest prev{};
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) prev = mac->mac({ByteView(prev), as_bytes(canonical)});
  const double s = since(start);
  if (prev[0] == 0 && prev[1] == 0 && prev[2] == 0 && prev[3] == 0) std::puts("");  // keep the loop
  return static_cast<double>(n) / s;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  std::string tmpl = (args.dir / "sekisho-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::filesystem::path dir = tmpl;
  const Secret key = random_secret(32);
  auto store = storage::Store::create(dir / "bench.db", key);
  if (!store || !storage::AuditLog::init_audit_key(**store, key)) {
    std::fprintf(stderr, "cannot create the store\n");
    return 1;
  }
  const SystemClock clock;
  auto log = storage::AuditLog::open(**store, clock);

  // 1. Durable single appends vs the fsync floor.
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < args.single; ++i) {
    if (!(*log)->append(event(i))) return 1;
  }
  const double single_rate = static_cast<double>(args.single) / since(start);
  const double floor_rate = fsync_floor(dir / "peer.log", args.single);
  std::printf(
      "durable single appends : %10.0f events/s   peer write+fdatasync %10.0f/s   ratio %.2f\n",
      single_rate, floor_rate, single_rate / floor_rate);

  // 2. Batched appends up to `events` in the chain.
  std::vector<storage::AuditEvent> batch;
  for (long i = 0; i < args.batch; ++i) batch.push_back(event(i));
  const long batches = (args.events - args.single + args.batch - 1) / args.batch;
  start = std::chrono::steady_clock::now();
  for (long b = 0; b < batches; ++b) {
    if (!(*log)->append_batch(batch)) return 1;
  }
  const double batch_rate = static_cast<double>(batches * args.batch) / since(start);
  std::printf("batched appends (%ld)  : %10.0f events/s\n", args.batch, batch_rate);

  // 3. Verify the whole chain vs HMAC alone, on a freshly opened store as `audit verify` does.
  log->reset();
  store->reset();
  store = storage::Store::open(dir / "bench.db", key, {});
  if (!store) return 1;
  log = storage::AuditLog::open(**store, clock);
  start = std::chrono::steady_clock::now();
  auto report = (*log)->verify({});
  const double verify_s = since(start);
  if (!report || !report->ok) {
    std::fprintf(stderr, "verify failed\n");
    return 1;
  }
  const double verify_rate = static_cast<double>(report->events) / verify_s;
  const double hmac_rate = hmac_floor(report->events);
  std::printf(
      "verify %ld events    : %10.0f events/s   peer HMAC-only %10.0f/s   ratio %.2f   goal "
      "2000000/s: %s\n",
      static_cast<long>(report->events), verify_rate, hmac_rate, verify_rate / hmac_rate,
      verify_rate >= 2e6 ? "met" : "NOT met");
  log->reset();
  store->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
