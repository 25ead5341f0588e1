// Result<T>: the value of an operation that can fail, or the Error saying why.
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace sekisho {

// What kind of failure; callers branch on the code, people read the message.
enum class ErrorCode {
  kInvalidArgument,  // bad input from a user, a file or the network
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,        // file modes, roles
  kUnauthenticated,         // wrong key, wrong password
  kCorrupt,                 // data that fails an integrity check
  kUnsupported,             // e.g. a schema newer than this binary
  kIo,                      // the operating system said no
  kUnavailable,             // a service we depend on (the directory) cannot be reached now
  kThrottled,               // too many attempts; try later
  kPasswordChangeRequired,  // a one-time password was right; a new one must be set now
  kTotpRequired,            // the password was right; a TOTP code is needed too
  kInternal,
};

// One line, fit to print on stderr: it never contains a secret.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

template <typename T>
using Result = tl::expected<T, Error>;

// Shorthand for `return fail(ErrorCode::kIo, "...")` in functions returning Result<T>.
inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
  return tl::make_unexpected(Error{code, std::move(message)});
}

// Result<void> success value.
inline Result<void> ok() { return {}; }

}  // namespace sekisho
