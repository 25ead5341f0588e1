#include "broker/sessions/session_seal.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <system_error>
#include <thread>

#include "base/files.hpp"
#include "base/logging.hpp"
#include "broker/sessions/session_recording.hpp"

namespace sekisho::broker {

namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kPoll = std::chrono::milliseconds(50);
// After SIGKILL: how long the killed writer may take to die and its lock to go.
constexpr auto kAfterKill = std::chrono::seconds(5);

// Polls the writer lock of `file` until it is free or `deadline` passes; the holder, if any.
Result<std::optional<pid_t>> wait_for_release(const fs::path& file,
                                              SteadyClock::time_point deadline) {
  for (;;) {
    auto holder = recorder::recording_writer(file);
    if (!holder || !*holder || SteadyClock::now() >= deadline) return holder;
    std::this_thread::sleep_for(kPoll);
  }
}

std::int64_t unix_us(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

Result<pid_t> stop_writer(const fs::path& file, SteadyClock::time_point deadline) {
  auto holder = wait_for_release(file, deadline);
  if (!holder) return tl::make_unexpected(holder.error());
  if (!*holder) return pid_t{0};
  const pid_t pid = **holder;
  if (pid <= 0) {
    return fail(ErrorCode::kAlreadyExists, file.string() + " is held by another sealer");
  }
  // The pidfd names the process, not the number: opened first, then the lock checked again, so
  // the signal goes to the process that holds the lock now, never to a later owner of its pid.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    if (errno != ESRCH) return fail(ErrorCode::kIo, "pidfd_open: " + errno_text(errno));
  } else {
    auto again = recorder::recording_writer(file);
    if (again && *again == std::optional<pid_t>(pid)) {
      ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      pollfd p{pidfd, POLLIN, 0};
      (void)::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kAfterKill).count()));
    }
    ::close(pidfd);
  }
  auto after = wait_for_release(file, SteadyClock::now() + kAfterKill);
  if (!after) return tl::make_unexpected(after.error());
  if (*after) {
    return fail(ErrorCode::kAlreadyExists,
                file.string() + " is still held by process " + std::to_string(**after));
  }
  return pid;
}

Result<void> seal_session(const SealContext& ctx, const storage::SessionRecord& session,
                          recorder::SealReason reason, const std::string& end_reason) {
  storage::SessionEnd end;
  const TimePoint now = ctx.clock.now();
  end.ended_at = format_time(now);
  end.end_reason = end_reason;
  auto path = recording_file(ctx.dir, session);
  auto sealed = path ? recorder::seal_recording(*path, reason, unix_us(now), ctx.signer)
                     : Result<recorder::SealOutcome>(tl::make_unexpected(path.error()));
  if (sealed) {
    end.recording_hash = sealed->summary.final_hash;
    end.recording_size = sealed->summary.size_bytes;
    end.duration_us = sealed->summary.duration_us;
    end.recording_sealed = !sealed->already_closed;
    if (sealed->already_closed) {
      end.end_reason += "; its worker had closed the recording";
    } else if (sealed->seal.cut_bytes > 0) {
      end.end_reason += "; a torn write of " + std::to_string(sealed->seal.cut_bytes) +
                        " bytes was cut before sealing";
    }
  } else {
    end.end_reason += "; recording not sealed: " + sealed.error().message;
    std::error_code ec;
    if (path) end.recording_size = static_cast<std::uint64_t>(fs::file_size(*path, ec));
    if (!path || ec) end.recording_size = 0;
  }
  const std::string target = session.account + "@" + session.host;
  return record_session_end(ctx.store, ctx.audit, session.user, target, session.id, end);
}

Result<std::size_t> seal_open_sessions(const SealContext& ctx, std::chrono::milliseconds grace) {
  auto log = module_logger("recorder");
  std::vector<storage::SessionRecord> open;
  auto read = ctx.store.read([&](storage::Store::Tx& tx) -> Result<void> {
    auto rows = storage::open_sessions(tx);
    if (!rows) return tl::make_unexpected(rows.error());
    open = std::move(*rows);
    return ok();
  });
  if (!read) return tl::make_unexpected(read.error());
  const auto deadline = SteadyClock::now() + grace;
  std::size_t ended = 0;
  for (const auto& session : open) {
    auto path = recording_file(ctx.dir, session);
    if (path && fs::exists(*path)) {
      auto stopped = stop_writer(*path, deadline);
      if (!stopped) {
        log->error("session {}: left open: {}", session.id, stopped.error().message);
        continue;
      }
      if (*stopped > 0) {
        log->warn("session {}: the previous run's worker {} still held its recording; killed",
                  session.id, *stopped);
        (void)ctx.audit.append({"sekishod",
                                "session.worker_killed",
                                session.account + "@" + session.host,
                                {{"session", session.id},
                                 {"pid", *stopped},
                                 {"reason",
                                  "the gateway stopped; its worker still held the "
                                  "recording at start-up"}}});
      }
    }
    auto r = seal_session(ctx, session, recorder::SealReason::kGatewayStopped, "gateway stopped");
    if (!r) {
      log->error("session {}: cannot record its end: {}", session.id, r.error().message);
      continue;
    }
    log->info("session {}: sealed at start-up (gateway stopped)", session.id);
    ++ended;
  }
  return ended;
}

}  // namespace sekisho::broker
