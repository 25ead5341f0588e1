// The core's scheduler with a fake time that moves only when the test says so: runs are counted
// after each step, never timed.
#include "broker/daemon/scheduler.hpp"

#include <gtest/gtest.h>

#include <map>

namespace sekisho::broker {
namespace {

using namespace std::chrono_literals;

// Time that moves only with advance(). Every advance() and wake() wakes every sleeper, which
// looks at the time and sleeps again when it is not its turn. Counts the sleepers so that a test
// moves time only once every job thread has computed its deadline and sleeps.
class FakeSchedulerTime final : public SchedulerTime {
 public:
  Instant now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void sleep_until(Instant deadline, const std::atomic<bool>& stop) override {
    std::unique_lock lock(mu_);
    const std::uint64_t entered = generation_;
    ++asleep_;
    ++sleeps_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return stop.load() || now_ >= deadline || generation_ != entered; });
    --asleep_;
    cv_.notify_all();
  }
  void wake() override {
    std::lock_guard lock(mu_);
    ++generation_;
    cv_.notify_all();
  }
  void advance(std::chrono::milliseconds by) {
    std::lock_guard lock(mu_);
    now_ += by;
    ++generation_;
    cv_.notify_all();
  }
  // Waits (bounded) until `n` threads sleep and at least `min_sleeps` sleeps have begun in all.
  bool wait_asleep(int n, int min_sleeps = 0) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return asleep_ == n && sleeps_ >= min_sleeps; });
  }
  int sleeps() const {
    std::lock_guard lock(mu_);
    return sleeps_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Instant now_{};
  int asleep_ = 0;
  int sleeps_ = 0;
  std::uint64_t generation_ = 0;
};

// Counts the runs of each job; a test waits (bounded) for a count.
struct Runs {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int> count;
  std::vector<std::string> order;
  std::function<void()> job(const std::string& name) {
    return [this, name] {
      std::lock_guard lock(mu);
      ++count[name];
      order.push_back(name);
      cv.notify_all();
    };
  }
  bool wait_for(const std::string& name, int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return count[name] >= n; });
  }
  int of(const std::string& name) {
    std::lock_guard lock(mu);
    return count[name];
  }
};

TEST(Scheduler, RunsAJobOnceEveryInterval) {
  FakeSchedulerTime time;
  Runs runs;
  Scheduler scheduler(&time);
  scheduler.add("sweep", 1000ms, runs.job("sweep"));
  scheduler.start();
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(time.wait_asleep(1));
    const int sleeps = time.sleeps();
    time.advance(999ms);  // not yet its turn: it wakes, sees the time, and sleeps again
    ASSERT_TRUE(time.wait_asleep(1, sleeps + 1));
    EXPECT_EQ(runs.of("sweep"), i - 1);
    time.advance(1ms);
    ASSERT_TRUE(runs.wait_for("sweep", i));
  }
  ASSERT_TRUE(time.wait_asleep(1));
  EXPECT_EQ(runs.of("sweep"), 3);
  scheduler.stop();
}

TEST(Scheduler, EachJobKeepsItsOwnInterval) {
  FakeSchedulerTime time;
  Runs runs;
  Scheduler scheduler(&time);
  scheduler.add("fast", 1000ms, runs.job("fast"));
  scheduler.add("slow", 3000ms, runs.job("slow"));
  scheduler.start();
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(time.wait_asleep(2));
    time.advance(1000ms);
    ASSERT_TRUE(runs.wait_for("fast", i));
  }
  ASSERT_TRUE(runs.wait_for("slow", 1));
  ASSERT_TRUE(time.wait_asleep(2));
  EXPECT_EQ(runs.of("fast"), 3);
  EXPECT_EQ(runs.of("slow"), 1);
}

TEST(Scheduler, StopReturnsWhileAJobWaitsForItsTurn) {
  // The time never moves: only stop() can end the wait (a hang here fails by the test timeout).
  FakeSchedulerTime time;
  Runs runs;
  Scheduler scheduler(&time);
  scheduler.add("checkpoint", std::chrono::hours(1), runs.job("checkpoint"));
  scheduler.start();
  ASSERT_TRUE(time.wait_asleep(1));
  scheduler.stop();
  EXPECT_EQ(runs.of("checkpoint"), 0);
}

TEST(Scheduler, StopsPromptlyWithTheRealClock) {
  Runs runs;
  Scheduler scheduler;
  scheduler.add("hourly", std::chrono::hours(1), runs.job("hourly"));
  scheduler.start();
  scheduler.stop();  // a lost wake-up would hang here for an hour
  EXPECT_EQ(runs.of("hourly"), 0);
}

TEST(Scheduler, AStoppedSchedulerRunsNothingMore) {
  FakeSchedulerTime time;
  Runs runs;
  Scheduler scheduler(&time);
  scheduler.add("sweep", 1000ms, runs.job("sweep"));
  scheduler.start();
  ASSERT_TRUE(time.wait_asleep(1));
  time.advance(1000ms);
  ASSERT_TRUE(runs.wait_for("sweep", 1));
  scheduler.stop();  // joined: its thread is gone
  scheduler.add("late", 1000ms, runs.job("late"));
  scheduler.start();
  time.advance(10000ms);
  EXPECT_TRUE(time.wait_asleep(0));
  EXPECT_EQ(runs.of("sweep"), 1);
  EXPECT_EQ(runs.of("late"), 0);
}

TEST(Scheduler, ALongRunDelaysNeitherItselfConcurrentlyNorTheOthers) {
  FakeSchedulerTime time;
  Runs runs;
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool open = false;
  std::atomic<int> inside{0}, most_inside{0};
  Scheduler scheduler(&time);
  scheduler.add("scan", 1000ms, [&] {
    const int now_inside = ++inside;
    if (now_inside > most_inside) most_inside = now_inside;
    runs.job("scan")();
    std::unique_lock lock(gate_mu);
    gate_cv.wait_for(lock, 10s, [&] { return open; });  // a long scan, until the test opens it
    --inside;
  });
  scheduler.add("sweep", 1000ms, runs.job("sweep"));
  scheduler.start();
  ASSERT_TRUE(time.wait_asleep(2));
  time.advance(1000ms);
  ASSERT_TRUE(runs.wait_for("scan", 1));
  ASSERT_TRUE(runs.wait_for("sweep", 1));
  // The scan is still running; the sweep keeps its schedule meanwhile.
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(time.wait_asleep(1));
    time.advance(1000ms);
    ASSERT_TRUE(runs.wait_for("sweep", i + 1)) << i;
  }
  EXPECT_EQ(runs.of("scan"), 1);
  {
    std::lock_guard lock(gate_mu);
    open = true;
  }
  gate_cv.notify_all();
  scheduler.stop();
  EXPECT_EQ(most_inside, 1);
}

}  // namespace
}  // namespace sekisho::broker
