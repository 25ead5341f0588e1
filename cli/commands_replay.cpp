// replay: plays a recorded session in the terminal with its timing, fetching pages of records from
// the API's seek point. With a terminal on standard input: space pauses, q quits, the left and
// right arrows seek 10 s (a new fetch from that offset, never a replay from the start).
#include <openssl/evp.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/replay_timing.hpp"
#include "cli/table.hpp"

namespace sekisho::cli {

namespace {

using nlohmann::json;
using std::chrono::microseconds;

constexpr std::int64_t kSeekStepUs = 10'000'000;
constexpr std::int64_t kPageBytes = 256 * 1024;

enum class Key { kNone, kPause, kQuit, kBack, kForward };

// Single keys from a terminal on standard input: no line buffering, no echo, no signals (Ctrl-C
// arrives as a key and quits, so the terminal is always restored). Restored on destruction.
class Keyboard {
 public:
  static std::unique_ptr<Keyboard> open() {
    termios saved{};
    if (::isatty(STDIN_FILENO) != 1 || ::tcgetattr(STDIN_FILENO, &saved) != 0) return nullptr;
    termios raw = saved;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO | ISIG));
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) return nullptr;
    return std::unique_ptr<Keyboard>(new Keyboard(saved));
  }
  ~Keyboard() { ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_); }
  Keyboard(const Keyboard&) = delete;
  Keyboard& operator=(const Keyboard&) = delete;

  // Waits at most `timeout` for a key.
  Key wait(microseconds timeout) {
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    if (::poll(&fd, 1, static_cast<int>(std::clamp<long long>(ms, 0, 1000))) <= 0) {
      return Key::kNone;
    }
    char buf[16];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) return Key::kNone;
    const std::string_view keys(buf, static_cast<std::size_t>(n));
    if (keys == " ") return Key::kPause;
    if (keys == "q" || keys == "Q" || keys == "\x03") return Key::kQuit;
    if (keys == "\x1b[D" || keys == "\x1bOD") return Key::kBack;
    if (keys == "\x1b[C" || keys == "\x1bOC") return Key::kForward;
    return Key::kNone;
  }

 private:
  explicit Keyboard(termios saved) : saved_(saved) {}
  termios saved_;
};

Result<std::string> base64_decode(const std::string& text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || text.size() % 4 != 0) {
    return fail(ErrorCode::kCorrupt, "the gateway sent a record that is not base64");
  }
  std::size_t size = static_cast<std::size_t>(n);
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) --size;
  out.resize(size);
  return out;
}

// The records of one session from a seek point, fetched a page at a time.
class EventPages {
 public:
  EventPages(Gateway& gateway, std::string id, std::int64_t from_us)
      : gateway_(gateway), id_(std::move(id)) {
    seek(from_us);
  }

  void seek(std::int64_t from_us) {
    queue_.clear();
    next_ = {from_us, 0};
  }

  // The next record, or nullopt at the end of the recording.
  Result<std::optional<json>> next() {
    while (queue_.empty()) {
      if (!next_) return std::optional<json>();
      auto page = gateway_.get(
          "/v1/sessions/" + id_ + "/events?from_us=" + std::to_string(next_->first) +
          "&skip=" + std::to_string(next_->second) + "&max_bytes=" + std::to_string(kPageBytes));
      if (!page) return tl::make_unexpected(page.error());
      for (auto& e : page->value("events", json::array())) queue_.push_back(std::move(e));
      const auto n = page->find("next");
      if (n != page->end() && n->is_object()) {
        next_ = {n->value("from_us", std::int64_t{0}), n->value("skip", std::int64_t{0})};
      } else {
        next_.reset();
      }
    }
    json e = std::move(queue_.front());
    queue_.pop_front();
    return std::optional<json>(std::move(e));
  }

 private:
  Gateway& gateway_;
  std::string id_;
  std::optional<std::pair<std::int64_t, std::int64_t>> next_;
  std::deque<json> queue_;
};

struct Playback {
  double speed = 1;
  std::int64_t idle_limit_us = 0;
  Keyboard* keyboard = nullptr;
  bool paused = false;
};

// Waits `delay` (handling keys when there is a keyboard). Returns the key that ended the wait
// early (quit or seek), or kNone once the delay has passed.
Key wait_for(Playback& p, microseconds delay) {
  if (p.keyboard == nullptr) {
    std::this_thread::sleep_for(delay);
    return Key::kNone;
  }
  auto remaining = delay;
  while (p.paused || remaining.count() > 0) {
    const auto t0 = std::chrono::steady_clock::now();
    const Key k = p.keyboard->wait(p.paused ? microseconds(500'000) : remaining);
    if (!p.paused) {
      remaining -= std::chrono::duration_cast<microseconds>(std::chrono::steady_clock::now() - t0);
    }
    if (k == Key::kPause) {
      p.paused = !p.paused;
    } else if (k != Key::kNone) {
      return k;
    }
  }
  return Key::kNone;
}

Result<void> write_out(const std::string& bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
      std::fflush(stdout) != 0) {
    return fail(ErrorCode::kIo, "cannot write to standard output");
  }
  return ok();
}

Result<void> play(Gateway& gateway, const std::string& id, std::int64_t from_us, Playback& p) {
  EventPages pages(gateway, id, from_us);
  std::int64_t prev = from_us;
  for (;;) {
    auto event = pages.next();
    if (!event) return tl::make_unexpected(event.error());
    if (!event->has_value()) return ok();
    const json& e = **event;
    const std::int64_t at = e.value("at_us", std::int64_t{0});
    const Key k = wait_for(p, replay_delay(prev, at, p.speed, p.idle_limit_us));
    if (k == Key::kQuit) return ok();
    if (k == Key::kBack || k == Key::kForward) {
      prev = std::max<std::int64_t>(0, prev + (k == Key::kBack ? -kSeekStepUs : kSeekStepUs));
      pages.seek(prev);
      // The screen shows a state from another time: start from a clean one.
      if (::isatty(STDOUT_FILENO) == 1) (void)write_out("\x1b[2J\x1b[H");
      continue;
    }
    prev = at;
    if (e.value("kind", "") != "output") continue;
    auto bytes = base64_decode(e.value("data", ""));
    if (!bytes) return tl::make_unexpected(bytes.error());
    if (auto r = write_out(*bytes); !r) return r;
  }
}

}  // namespace

Result<void> run_replay(const GlobalOptions& global, const ReplayOptions& options) {
  if (auto r = check_path_name("session id", options.id); !r) return r;
  Playback p;
  auto speed = parse_speed(options.speed);
  if (!speed) return tl::make_unexpected(speed.error());
  p.speed = *speed;
  std::int64_t from_us = 0;
  if (options.from) {
    auto from = parse_offset_us(*options.from);
    if (!from) return fail(ErrorCode::kInvalidArgument, "--from: " + from.error().message);
    from_us = *from;
  }
  if (options.idle_limit) {
    auto idle = parse_offset_us(*options.idle_limit);
    if (!idle || *idle <= 0) {
      return fail(ErrorCode::kInvalidArgument,
                  "--idle-limit: a positive time such as 2, 0.5 or 2s is needed");
    }
    p.idle_limit_us = *idle;
  }
  auto gateway = Gateway::logged_in(global);
  if (!gateway) return tl::make_unexpected(gateway.error());
  auto info = (*gateway)->get("/v1/sessions/" + options.id);
  if (!info) return tl::make_unexpected(info.error());
  const auto keyboard = Keyboard::open();
  p.keyboard = keyboard.get();
  if (keyboard) {
    const json rec = info->value("recording", json::object());
    std::cerr << "session " << options.id << " (" << printable(cell(*info, "user")) << " on "
              << printable(cell(*info, "account") + "@" + cell(*info, "host")) << ", "
              << format_offset(rec.value("duration_us", std::int64_t{0}))
              << "): space pauses, left/right seek 10 s, q quits\r\n";
  }
  return play(**gateway, options.id, from_us, p);
}

}  // namespace sekisho::cli
