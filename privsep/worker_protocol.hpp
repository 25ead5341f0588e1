// The conversation between the core and an SSH session worker over their socketpair (DESIGN.md
// "Architecture"): length-prefixed JSON messages, at most one passed descriptor each, and the
// stages of the conversation (the table of which request the core answers at which stage is the
// monitor's, broker/ssh/monitor.cpp). The worker parses untrusted SSH bytes; the core trusts
// nothing it says and answers only what the stage allows, as OpenSSH's monitor does for its
// unprivileged child.
//
// Frame: 4-byte big-endian length, then that many bytes of a JSON object with a string "type".
// A descriptor travels as SCM_RIGHTS on the frame's first byte.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "base/secret.hpp"

namespace sekisho::wire {

// Largest message body either side accepts (the biggest is the hello with the host key).
inline constexpr std::size_t kMaxMessage = 64 * 1024;

// Descriptors the core hands to a worker it spawns (`sekisho-worker`).
inline constexpr int kClientFd = 3;  // the accepted SSH client connection
inline constexpr int kCoreFd = 4;    // the worker's end of the socketpair

// An owned descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct Message {
  nlohmann::json body;  // always an object with a string "type"
  Fd fd;                // the descriptor that came with it, if any
};

// Sends one message (and `pass_fd` when >= 0). The serialised body is wiped after sending: a
// message may carry a credential. Blocking; one thread per socket.
[[nodiscard]] Result<void> send_message(int sock, const nlohmann::json& body, int pass_fd = -1);

// Receives one message. kNotFound "peer closed" on an orderly end between frames; kInvalidArgument
// for a frame above kMaxMessage, a body that is not a JSON object with a string "type", or more
// than one descriptor; kIo for a frame cut short. Blocking.
[[nodiscard]] Result<Message> receive_message(int sock);

// Moves the string field `name` of `body` into a Secret and overwrites it in the JSON, so that the
// secret lives in one wiped place. kInvalidArgument when absent or not a string.
[[nodiscard]] Result<Secret> take_secret(nlohmann::json& body, const char* name);

// Where a worker's conversation is; each stage admits a fixed set of requests (the monitor's
// table in broker/ssh/monitor.cpp).
enum class Stage {
  kStart,          // nothing proven: only authentication
  kSecondFactor,   // a good password of a TOTP-enrolled user: only its TOTP code
  kAuthenticated,  // the gateway user is known: authorization, refusal reports
  kAuthorized,     // a grant for the target: the credential (after the host key check)
  kConnected,      // the target accepted its key check: the recording
  kRecording,      // a recording is open: signing its close, the end of the session
  kSigned,         // the closing record is signed: only the end
  kEnded,
};

const char* stage_name(Stage stage);

}  // namespace sekisho::wire
