#include "base/core_dumps.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>

#include "base/files.hpp"

namespace sekisho {

Result<void> forbid_core_dumps() {
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) {
    return fail(ErrorCode::kIo, "cannot set RLIMIT_CORE to 0: " + errno_text(errno));
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return fail(ErrorCode::kIo, "cannot make the process non-dumpable: " + errno_text(errno));
  }
  return ok();
}

}  // namespace sekisho
