// Test child for the crash test: opens a data dir made by init and appends audit events forever,
// printing "acked SEQ N" after each append has returned (that is, after the event is durable).
// The parent kills it with SIGKILL at random moments. Usage: audit_append_loop DATA_DIR [batch]
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "base/clock.hpp"
#include "storage/audit_log.hpp"
#include "storage/data_dir.hpp"

int main(int argc, char** argv) {
  using namespace sekisho;
  if (argc < 2) {
    std::fprintf(stderr, "usage: audit_append_loop DATA_DIR [batch]\n");
    return 2;
  }
  const int batch = argc > 2 ? std::atoi(argv[2]) : 1;
  const storage::DataDir dir(argv[1]);
  auto lock = storage::DataDirLock::acquire(dir);
  auto store = storage::open_data_dir_store(dir, {});
  if (!lock || !store) {
    std::fprintf(stderr, "audit_append_loop: cannot open %s\n", argv[1]);
    return 1;
  }
  const SystemClock clock;
  auto log = storage::AuditLog::open(**store, clock);
  if (!log) return 1;
  auto head = (*log)->head();
  if (!head) return 1;
  for (std::int64_t n = head->seq + 1;; n += batch) {
    std::vector<storage::AuditEvent> events;
    for (int i = 0; i < batch; ++i) {
      events.push_back({"crash-test", "test.append", "n" + std::to_string(n + i), {{"n", n + i}}});
    }
    auto seq = (*log)->append_batch(events);
    if (!seq) {
      std::fprintf(stderr, "audit_append_loop: %s\n", seq.error().message.c_str());
      return 1;
    }
    std::printf("acked %lld %lld\n", static_cast<long long>(*seq),
                static_cast<long long>(n + batch - 1));
    std::fflush(stdout);
  }
}
