// Keeping a process that holds secrets out of core dumps and debuggers.
#pragma once

#include "base/result.hpp"

namespace sekisho {

// Makes this process non-dumpable (prctl PR_SET_DUMPABLE 0: no core file, and no ptrace attach or
// /proc/PID/mem read by processes of the same user) and sets RLIMIT_CORE to 0, soft and hard, so
// that neither a crash nor a later setrlimit writes one. Secret buffers are MADV_DONTDUMP as well
// (base/secret.hpp): this covers the copies that live outside them (OpenSSL, SQLCipher, libssh).
// Call first thing in main, before any secret is read. Inherited across fork; execve resets the
// dumpable flag, so each executable calls it itself. kIo when the kernel refuses. Any thread.
[[nodiscard]] Result<void> forbid_core_dumps();

}  // namespace sekisho
