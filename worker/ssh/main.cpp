// sekisho-worker: the SSH session worker executable, started by `sekishod serve` for each SSH
// connection on inherited descriptors (worker/ssh/session_worker.hpp); not for people.
#include <malloc.h>

#include <cstdio>

#include "base/logging.hpp"
#include "worker/ssh/session_worker.hpp"

int main(int argc, char**) {
  if (argc != 1) {
    std::fprintf(stderr,
                 "sekisho-worker: started by sekishod serve for each SSH connection; takes no "
                 "arguments\n");
    return 2;
  }
  // glibc gives freed heap back to the kernel as soon as 128 KiB sit free at its top; a bulk
  // session frees and reallocates its chunk buffers every few dozen kilobytes, so the writer
  // thread's arena was shrunk (madvise, a TLB flush on every CPU) and faulted in again hundreds
  // of times a second. Keeping up to 4 MiB free per arena ends that; an idle worker never grows
  // that far (docs/ssh_gateway.md "Measured").
  (void)mallopt(M_TRIM_THRESHOLD, 4 << 20);
  sekisho::setup_logging(sekisho::LogFormat::kText, spdlog::level::info);
  return sekisho::worker::run_session_worker();
}
