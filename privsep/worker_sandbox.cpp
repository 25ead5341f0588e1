#include "privsep/worker_sandbox.hpp"

#include <sched.h>
#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

namespace sekisho::privsep {

namespace {

using A = SandboxAction;

// What a worker calls after setup, listed from strace of real sessions (shell, exec, sftp, scp,
// password and key logins) in the release build: I/O on the descriptors it holds, poll, memory,
// time, randomness, signals, futexes and threads (the recorder's writer thread), exit.
constexpr SandboxRule kRelease[] = {
    // descriptors it already holds: client, core, target, recording, stdio
    {"read", A::kAllow},
    {"write", A::kAllow},
    {"readv", A::kAllow},
    {"writev", A::kAllow},
    {"pread64", A::kAllow},
    {"pwrite64", A::kAllow},
    {"preadv", A::kAllow},
    {"pwritev", A::kAllow},  // the recorder's writer: header + chunk in one call
    {"lseek", A::kAllow},
    {"close", A::kAllow},
    {"fstat", A::kAllow},
    {"newfstatat", A::kAllow},  // glibc's fstat(); in the empty root no path leads anywhere
    {"fcntl", A::kAllow},
    {"fsync", A::kAllow},
    {"fdatasync", A::kAllow},
    {"recvfrom", A::kAllow},
    {"recvmsg", A::kAllow},  // the core passes descriptors (target socket, recording)
    {"sendto", A::kAllow},
    {"sendmsg", A::kAllow},
    {"shutdown", A::kAllow},
    {"getsockopt", A::kAllow},
    {"setsockopt", A::kAllow},  // TCP_NODELAY on the client socket
    {"getsockname", A::kAllow},
    {"getpeername", A::kAllow},
    {"poll", A::kAllow},
    {"ppoll", A::kAllow},
    {"select", A::kAllow},
    {"pselect6", A::kAllow},
    // memory
    {"brk", A::kAllow},
    {"mmap", A::kAllow},
    {"munmap", A::kAllow},
    {"mremap", A::kAllow},
    {"mprotect", A::kAllow},  // glibc guards new thread stacks
    {"madvise", A::kAllow},   // also MADV_DONTDUMP on secrets (base/secret.cpp)
    {"mlock", A::kAllow},     // secrets stay out of swap
    {"munlock", A::kAllow},
    // time, randomness, identity
    {"clock_gettime", A::kAllow},
    {"clock_getres", A::kAllow},
    {"gettimeofday", A::kAllow},
    {"time", A::kAllow},
    {"nanosleep", A::kAllow},
    {"clock_nanosleep", A::kAllow},
    {"getrandom", A::kAllow},  // OpenSSL's seed
    {"getpid", A::kAllow},
    {"gettid", A::kAllow},
    // signals, threads, exit
    {"rt_sigaction", A::kAllow},
    {"rt_sigprocmask", A::kAllow},
    {"rt_sigreturn", A::kAllow},
    {"tgkill", A::kSelfOnly},  // abort() signals itself; other workers share the uid
    {"futex", A::kAllow},
    {"set_robust_list", A::kAllow},
    {"rseq", A::kAllow},
    {"sched_yield", A::kAllow},
    {"clone", A::kThreadsOnly},
    {"clone3", A::kEnosys},  // its flags sit in memory the filter cannot read: glibc falls
                             // back to clone, whose flags it can
    {"exit", A::kAllow},
    {"exit_group", A::kAllow},
    // probes with a fallback: a library looking for a file (the root is empty anyway)
    {"openat", A::kEacces},
    {"open", A::kEacces},
};

// AddressSanitizer and LeakSanitizer on top: LSan's exit-time leak check starts a tracer task
// (clone without CLONE_THREAD), ptraces the threads and waits for it; ASan reads /proc maps
// (absent in the empty root: the opens fail, not the process), sets up alternate signal stacks
// and names threads.
constexpr SandboxRule kSanitizer[] = {
    {"clone", A::kAllow},
    {"ptrace", A::kAllow},
    {"wait4", A::kAllow},
    {"waitid", A::kAllow},
    {"prctl", A::kAllow},
    {"sigaltstack", A::kAllow},
    {"sched_getaffinity", A::kAllow},
    {"getppid", A::kAllow},
    {"readlink", A::kEacces},
    {"readlinkat", A::kEacces},
    {"kill", A::kSelfOnly},
    {"pipe2", A::kAllow},
    {"getdents64", A::kAllow},
    {"dup", A::kAllow},
    {"dup2", A::kAllow},
    {"uname", A::kAllow},
};

struct FilterFree {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

int add_rule(scmp_filter_ctx ctx, int nr, SandboxAction action) {
  switch (action) {
    case A::kAllow:
      return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    case A::kEacces:
      return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), nr, 0);
    case A::kEnosys:
      return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    case A::kThreadsOnly:
      return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    case A::kSelfOnly:
      return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                              SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid())));
  }
  return -EINVAL;
}

}  // namespace

std::vector<SandboxRule> worker_sandbox_rules(bool sanitizer) {
  std::vector<SandboxRule> rules(std::begin(kRelease), std::end(kRelease));
  if (!sanitizer) return rules;
  for (const SandboxRule& extra : kSanitizer) {
    bool replaced = false;
    for (SandboxRule& r : rules) {
      if (r.name == extra.name) {
        r.action = extra.action;
        replaced = true;
      }
    }
    if (!replaced) rules.push_back(extra);
  }
  return rules;
}

Result<void> install_worker_sandbox() {
  std::unique_ptr<void, FilterFree> ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!ctx) return fail(ErrorCode::kInternal, "seccomp_init failed");
  for (const SandboxRule& r : worker_sandbox_rules(built_with_sanitizer())) {
    const std::string name(r.name);
    const int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) {
      return fail(ErrorCode::kInternal, "seccomp: unknown system call " + name);
    }
    if (const int rc = add_rule(ctx.get(), nr, r.action); rc != 0) {
      return fail(ErrorCode::kInternal,
                  "seccomp rule for " + name + ": error " + std::to_string(-rc));
    }
  }
  // Every thread, also the ones started later, runs under the filter (TSYNC); it must be the
  // only filter source, so no other thread may be running unfiltered when this returns.
  if (seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1) != 0) {
    return fail(ErrorCode::kInternal, "seccomp: no thread synchronisation");
  }
  if (const int rc = seccomp_load(ctx.get()); rc != 0) {
    return fail(ErrorCode::kInternal, "seccomp_load: error " + std::to_string(-rc));
  }
  return ok();
}

}  // namespace sekisho::privsep
