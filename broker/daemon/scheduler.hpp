// The core's periodic jobs (the request sweep, the directory recheck, recording retention, audit
// checkpoints, the live sessions' window check; rotation schedules and host scans next): each
// named job runs every interval on a thread of its own until the scheduler stops.
//
// One thread per job, not a shared pool: a job that takes long (a host scan over many hosts, a
// slow directory) delays only its own next run, never another job's, and a job never runs
// concurrently with itself. The core has a handful of jobs, so a handful of mostly idle threads
// costs less than a pool's queueing rules. The interval is a fixed delay between the end of one
// run and the start of the next: a slow run is not followed by a burst of catch-up runs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sekisho::broker {

// How the scheduler's threads tell time and wait: injected so that a test lets time pass without
// sleeping. Every member may be called from any thread.
class SchedulerTime {
 public:
  using Instant = std::chrono::steady_clock::time_point;
  virtual ~SchedulerTime() = default;
  virtual Instant now() const = 0;
  // Blocks until `deadline`, or until wake() is called after this call began, or until `stop` is
  // set (checked before blocking, so a wake() that follows setting `stop` is never lost). May
  // return early; the caller checks the time again.
  virtual void sleep_until(Instant deadline, const std::atomic<bool>& stop) = 0;
  // Wakes every sleeper, so that it looks at its `stop` flag.
  virtual void wake() = 0;
};

// Real time: the steady clock (a wall-clock step never makes a job run early or late).
class SteadySchedulerTime final : public SchedulerTime {
 public:
  Instant now() const override { return std::chrono::steady_clock::now(); }
  void sleep_until(Instant deadline, const std::atomic<bool>& stop) override;
  void wake() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

class Scheduler {
 public:
  // `time` outlives the scheduler; null: real time (a SteadySchedulerTime of its own).
  explicit Scheduler(SchedulerTime* time = nullptr);
  ~Scheduler();  // stop()s
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs `job` every `interval` (the first run one interval after start(), or after add() when
  // already started) on a thread of its own until stop(). `name` is for the logs. A job reports
  // its own failures (it returns nothing); an exception it throws is logged and the job keeps
  // its schedule. Refused (ignored, logged) after stop(). Any thread.
  void add(std::string name, std::chrono::milliseconds interval, std::function<void()> job);
  // Starts the threads of the jobs added so far. Any thread; once.
  void start();
  // Returns once no job runs and none will again: a job that is waiting for its turn stops at
  // once; one that is running finishes its run first. Idempotent; any thread but a job's own.
  void stop();

 private:
  struct Job {
    std::string name;
    std::chrono::milliseconds interval;
    std::function<void()> run;
    std::thread thread;
  };
  void launch(Job& job);
  void loop(Job& job);

  std::unique_ptr<SchedulerTime> own_time_;
  SchedulerTime& time_;
  std::mutex mu_;  // jobs_, started_
  std::vector<std::unique_ptr<Job>> jobs_;
  bool started_ = false;
  std::atomic<bool> stopping_{false};
};

}  // namespace sekisho::broker
