// The worker's end of the core ↔ worker socketpair (privsep/worker_protocol.hpp). The worker asks
// and the core replies, but the core may also push a message at any time (docs/ssh_gateway.md
// "Window end and kill"): `notice {text}` and `close {reason}`. ask() sets aside pushes that
// arrive while it waits for its reply, so that any caller (authentication, file transfers) can
// ask without knowing about them; the relay takes them with take_pushes().
//
// The core's death (docs/ssh_gateway.md "When the core dies") shows as the socket's hang-up, or as
// a failed send or receive: whichever finds it first, take_pushes() then returns one close marked
// "core_gone", so that the relay stops at once and does not ask the dead core for anything more.
#pragma once

#include <poll.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "privsep/worker_protocol.hpp"

namespace sekisho::privsep {

class CoreLink {
 public:
  // Pushes kept while nobody takes them; the core sends at most a notice and a close per session,
  // so more means a confused core: the extra notices are dropped, a close is always kept.
  static constexpr std::size_t kMaxPending = 16;
  // Messages one take_pushes() reads from the socket, so that the relay is never starved.
  static constexpr int kMaxReadPerTake = 8;

  explicit CoreLink(int fd) : fd_(fd) {}

  // Sends `request` and returns the core's reply; pushes that come first are set aside.
  Result<nlohmann::json> ask(const nlohmann::json& request, wire::Fd* fd_out = nullptr) {
    if (auto r = wire::send_message(fd_, request); !r) {
      down_ = true;
      return tl::make_unexpected(r.error());
    }
    for (;;) {
      auto msg = wire::receive_message(fd_);
      if (!msg) {
        down_ = true;
        return tl::make_unexpected(msg.error());
      }
      if (msg->body["type"] == "reply") {
        if (fd_out != nullptr) *fd_out = std::move(msg->fd);
        return std::move(msg->body);
      }
      keep(std::move(msg->body));
    }
  }
  bool ok(const Result<nlohmann::json>& reply) { return reply && reply->value("ok", false); }

  // The pushes set aside by ask(), then those waiting on the socket now (never blocks for one
  // that has not begun to arrive), oldest first. When the core is gone, a close with "core_gone"
  // is made up, once, after what the core sent before: a session the core no longer watches must
  // not go on.
  std::vector<nlohmann::json> take_pushes() {
    for (int i = 0; i < kMaxReadPerTake && !down_; ++i) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) break;
      auto msg = wire::receive_message(fd_);
      if (!msg) {
        down_ = true;
        break;
      }
      if (msg->body["type"] != "reply") keep(std::move(msg->body));  // a stray reply: dropped
    }
    if (down_ && !gone_told_) {
      gone_told_ = true;
      keep({{"type", "close"}, {"reason", "the gateway core is gone"}, {"core_gone", true}});
    }
    std::vector<nlohmann::json> out(std::make_move_iterator(pending_.begin()),
                                    std::make_move_iterator(pending_.end()));
    pending_.clear();
    return out;
  }

  bool down() const { return down_; }
  // Whether the core has hung up (died, or ended the conversation), seen without reading from the
  // socket, so that a push waiting there is still taken by take_pushes(). Never blocks.
  bool peer_gone() {
    if (down_) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)) != 0;
  }
  // Pushes ask() set aside and nobody took yet.
  bool has_pending() const { return !pending_.empty(); }

 private:
  void keep(nlohmann::json body) {
    const std::string type = body.value("type", "");
    if (type != "notice" && type != "close") return;  // not a push this worker knows
    if (type == "notice" && pending_.size() >= kMaxPending) return;
    pending_.push_back(std::move(body));
  }

  int fd_;
  bool down_ = false;
  bool gone_told_ = false;  // take_pushes() has returned the made-up close
  std::deque<nlohmann::json> pending_;
};

}  // namespace sekisho::privsep
