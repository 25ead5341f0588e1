#include "rotation/connector.hpp"

namespace sekisho::rotation {

const char* to_string(ChangeOutcome outcome) {
  switch (outcome) {
    case ChangeOutcome::kChanged:
      return "changed";
    case ChangeOutcome::kUnreachable:
      return "unreachable";
    case ChangeOutcome::kHostKeyMismatch:
      return "host key mismatch";
    case ChangeOutcome::kRefusedOld:
      return "authentication refused";
    case ChangeOutcome::kPasswordRejected:
      return "password rejected by the host's policy";
    case ChangeOutcome::kUnknown:
      return "connection lost during the change";
  }
  return "unknown";
}

const char* to_string(LoginOutcome outcome) {
  switch (outcome) {
    case LoginOutcome::kAccepted:
      return "accepted";
    case LoginOutcome::kRefused:
      return "refused";
    case LoginOutcome::kUnreachable:
      return "unreachable";
    case LoginOutcome::kHostKeyMismatch:
      return "host key mismatch";
  }
  return "unknown";
}

}  // namespace sekisho::rotation
