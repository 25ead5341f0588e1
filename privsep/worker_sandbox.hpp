// The session worker's seccomp filter (docs/ssh_gateway.md "Worker sandbox"): the containment
// OpenSSH gives its pre-authentication child, for a process that — unlike that child — must hold
// the gateway's SSH host key (libssh 0.10 signs the key exchange in-process; no way to ask the
// core). Installed after the privilege drop, before the first byte from the client is parsed:
// from then on the worker can only read, write and poll the descriptors it has, map memory,
// start threads, and exit. It cannot create sockets, connect, open files, exec or fork.
#pragma once

#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace sekisho::privsep {

// How the filter answers a system call.
enum class SandboxAction {
  kAllow,
  kEacces,       // fails with EACCES: library probes that have a fallback (opening a file)
  kEnosys,       // fails with ENOSYS: glibc then uses the older call the filter can inspect
  kThreadsOnly,  // clone: allowed with CLONE_THREAD (a thread), a new process kills
  kSelfOnly,     // tgkill: allowed when the first argument is the worker's own pid (abort)
};

struct SandboxRule {
  std::string_view name;  // the system call, as libseccomp names it
  SandboxAction action;
};

// The rules of the filter for this build; every other system call kills the process
// (SCMP_ACT_KILL_PROCESS). `sanitizer`: the ASan/LSan build's wider list (LeakSanitizer stops
// the world with clone + ptrace at exit, ASan reads /proc/self/maps). Pure function; any thread.
std::vector<SandboxRule> worker_sandbox_rules(bool sanitizer);

// True when this binary was compiled with AddressSanitizer (the build's SEKISHO_SANITIZE).
constexpr bool built_with_sanitizer() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#else
  return false;
#endif
}

// Installs worker_sandbox_rules(built_with_sanitizer()) on the calling process, all its threads
// (none should exist yet) and every thread it starts later. Needs PR_SET_NO_NEW_PRIVS set (or
// CAP_SYS_ADMIN). Irreversible. An error (a name this kernel or libseccomp does not know, the
// load refused) means the worker must exit without serving: it never runs unconfined.
[[nodiscard]] Result<void> install_worker_sandbox();

}  // namespace sekisho::privsep
