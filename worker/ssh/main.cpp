// sekisho-worker: the SSH worker executable, started by `sekishod serve` on inherited descriptors
// (privsep/worker_spawn.hpp); not for people. Its job comes in the core's first message, the
// hello: "session" for an SSH client connection (worker/ssh/session_worker.hpp), "probe_host_key"
// for the host key of `hosts add` (worker/ssh/host_key_probe.hpp), "change_password" and
// "try_login" for password rotation (worker/ssh/rotation_worker.hpp). Any other job is refused:
// the worker exits without touching its descriptors.
#include <malloc.h>

#include <cstdio>
#include <string>

#include "base/logging.hpp"
#include "privsep/worker_protocol.hpp"
#include "ssh/rotation_job.hpp"
#include "worker/ssh/host_key_probe.hpp"
#include "worker/ssh/rotation_worker.hpp"
#include "worker/ssh/session_worker.hpp"

namespace {

std::string job_of(const nlohmann::json& hello) {
  const auto job = hello.find("job");
  return job != hello.end() && job->is_string() ? job->get<std::string>() : "";
}

}  // namespace

int main(int argc, char**) {
  if (argc != 1) {
    std::fprintf(stderr,
                 "sekisho-worker: started by sekishod serve for each SSH connection, host-key "
                 "probe and password rotation; takes no arguments\n");
    return 2;
  }
  // glibc gives freed heap back to the kernel as soon as 128 KiB sit free at its top; a bulk
  // session frees and reallocates its chunk buffers every few dozen kilobytes, so the writer
  // thread's arena was shrunk (madvise, a TLB flush on every CPU) and faulted in again hundreds
  // of times a second. Keeping up to 4 MiB free per arena ends that; an idle worker never grows
  // that far (docs/ssh_gateway.md "Measured").
  (void)mallopt(M_TRIM_THRESHOLD, 4 << 20);
  sekisho::setup_logging(sekisho::LogFormat::kText, spdlog::level::info);
  auto log = sekisho::module_logger("ssh-worker");
  auto hello = sekisho::wire::receive_message(sekisho::wire::kCoreFd);
  if (!hello || hello->body.value("type", "") != "hello") {
    log->error("no hello from the core");
    return 1;
  }
  const std::string job = job_of(hello->body);
  if (job == "session") return sekisho::worker::run_session_worker(hello->body);
  if (job == "probe_host_key") return sekisho::worker::run_host_key_probe(hello->body);
  if (job == sekisho::ssh::kChangePasswordJob || job == sekisho::ssh::kTryLoginJob) {
    return sekisho::worker::run_rotation_job(hello->body);
  }
  log->error("unknown job in the hello; refused");
  return 1;
}
