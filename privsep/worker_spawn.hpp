// How the core starts a worker process (DESIGN.md "Architecture": workers start from a clean
// image, never from a fork of the multi-threaded core): posix_spawn of the worker executable with
// exactly two inherited descriptors, the job's connection on wire::kClientFd (3) and the worker's
// end of a new socketpair on wire::kCoreFd (4), default signal dispositions, an empty signal mask,
// an empty environment and no arguments. What the job is, and the privileges the worker gives up,
// travel in the first message on the socketpair (the hello), sent by the caller. Knows no SSH.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "base/result.hpp"
#include "privsep/worker_protocol.hpp"

namespace sekisho::privsep {

struct SpawnedWorker {
  pid_t pid = -1;
  wire::Fd core;  // the core's end of the socketpair (close-on-exec)
};

// `sekisho-worker` in the directory of the running program (sekishod and the worker are installed
// side by side). kIo "cannot run the SSH worker PATH: REASON (it is installed next to sekishod)"
// when it is missing or not executable. Blocking (reads /proc/self/exe); any thread.
[[nodiscard]] Result<std::string> worker_executable_beside_me();

// Starts `exe` with `job_fd` as its descriptor 3 and a new socketpair's end as its descriptor 4;
// every other descriptor is closed in the child. `job_fd` stays open and owned by the caller (the
// worker has its own copy). The caller must reap the returned pid (reap_worker). kIo with the
// reason when the socketpair, the descriptor copies or the spawn fail. Any thread.
[[nodiscard]] Result<SpawnedWorker> spawn_worker(const std::string& exe, int job_fd);

// Waits for worker `pid` to exit; SIGKILL after `grace`, so that a stuck worker never leaks. Call
// it once per pid (after it returns the pid may belong to another process). Blocking, bounded by
// `grace` plus the kill; any thread.
void reap_worker(pid_t pid, std::chrono::milliseconds grace);

// SIGKILLs worker `pid` once `after` has passed, unless destroyed first, so that a conversation
// with a worker that stalls (inside a message, or never answering) ends: the core's pending
// receive then fails. The pid stays the worker's throughout: destroy this before reap_worker.
// One thread per object; construct and destroy on the same thread.
class WorkerDeadline {
 public:
  WorkerDeadline(pid_t pid, std::chrono::milliseconds after);
  ~WorkerDeadline();
  WorkerDeadline(const WorkerDeadline&) = delete;
  WorkerDeadline& operator=(const WorkerDeadline&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

// Sends `request` to `worker` and waits for its one answer, both within `limit` (a
// WorkerDeadline): the answer's body, or the send's or receive's error (a killed worker's is
// kNotFound "peer closed" or kIo). Blocking, bounded by `limit`; any thread.
[[nodiscard]] Result<nlohmann::json> ask_worker(const SpawnedWorker& worker,
                                                const nlohmann::json& request,
                                                std::chrono::milliseconds limit);

}  // namespace sekisho::privsep
