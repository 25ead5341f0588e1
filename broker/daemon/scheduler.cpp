#include "broker/daemon/scheduler.hpp"

#include <exception>

#include "base/logging.hpp"

namespace sekisho::broker {

void SteadySchedulerTime::sleep_until(Instant deadline, const std::atomic<bool>& stop) {
  std::unique_lock lock(mu_);
  // `stop` is read under mu_, and wake() takes mu_ before notifying: no wake-up is lost.
  cv_.wait_until(lock, deadline, [&] { return stop.load(); });
}

void SteadySchedulerTime::wake() {
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

Scheduler::Scheduler(SchedulerTime* time)
    : own_time_(time == nullptr ? std::make_unique<SteadySchedulerTime>() : nullptr),
      time_(time == nullptr ? *own_time_ : *time) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::add(std::string name, std::chrono::milliseconds interval,
                    std::function<void()> job) {
  std::lock_guard lock(mu_);
  if (stopping_) {
    module_logger("scheduler")->warn("job {} added after stop: not scheduled", name);
    return;
  }
  jobs_.push_back(std::make_unique<Job>(Job{std::move(name), interval, std::move(job), {}}));
  if (started_) launch(*jobs_.back());
}

void Scheduler::start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  for (auto& job : jobs_) launch(*job);
}

void Scheduler::stop() {
  std::vector<std::unique_ptr<Job>> jobs;
  {
    std::lock_guard lock(mu_);
    if (stopping_.exchange(true)) return;
    jobs.swap(jobs_);
  }
  time_.wake();
  for (auto& job : jobs) {
    if (job->thread.joinable()) job->thread.join();
  }
}

void Scheduler::launch(Job& job) {
  job.thread = std::thread([this, &job] { loop(job); });
}

void Scheduler::loop(Job& job) {
  auto next = time_.now() + job.interval;
  while (!stopping_) {
    time_.sleep_until(next, stopping_);
    if (stopping_) return;
    if (time_.now() < next) continue;  // woken early: not its turn yet
    try {
      job.run();
    } catch (const std::exception& e) {
      module_logger("scheduler")->error("job {} failed: {}", job.name, e.what());
    }
    next = time_.now() + job.interval;
  }
}

}  // namespace sekisho::broker
