// What a worker gives up before it reads a byte from the network (docs/ssh_gateway.md "Worker
// privileges"), whatever its job (an SSH session, a host-key probe): when the daemon runs as root,
// the worker changes to [ssh] worker_user, chroots into an empty root-owned directory and can
// never regain either. The core resolves the user and prepares the directory (the gateway at
// bind, the host-key probe per probe); the worker applies the result after its hello.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "base/result.hpp"

namespace sekisho::privsep {

struct WorkerPrivileges {
  // true: give up root for `user` in `root`; false: the daemon is not root, nothing to give up
  bool change_user = false;
  std::string user;  // for messages
  uid_t uid = 0;
  gid_t gid = 0;
  std::string root;  // the empty directory the worker chroots into
};

// Core, at gateway start. When the process is root: `user` must exist (a one-line error
// otherwise) and must not be root; DATA_ROOT/empty is created (0755, root-owned) and must be an
// empty directory only root can write. When not root: {change_user = false}.
[[nodiscard]] Result<WorkerPrivileges> resolve_worker_privileges(
    const std::string& user, const std::filesystem::path& data_root);

// Worker: chroot + chdir("/"), drop supplementary groups, setresgid/setresuid, then checks that
// root cannot be regained. Always (root or not): PR_SET_NO_NEW_PRIVS, not dumpable, no core
// files, a small descriptor limit. An error means the worker must exit without serving.
[[nodiscard]] Result<void> apply_worker_privileges(const WorkerPrivileges& p);

// The hello's "change_user" field (every job's hello carries it): {user, uid, gid, root}, or null
// when there is nothing to give up. Pure function; any thread.
nlohmann::json privileges_to_hello(const WorkerPrivileges& p);

// Worker: reads the hello's "change_user" field back. Absent or null: {change_user = false}.
// kInvalidArgument "bad privileges in the hello" for an object whose uid or gid is 0 or whose
// root is empty (the worker must then exit, never run as root by mistake). Pure function.
[[nodiscard]] Result<WorkerPrivileges> privileges_from_hello(const nlohmann::json& hello);

// The descriptor limit applied by apply_worker_privileges: the client and core sockets, stdio,
// the recording, the target connection and libssh/OpenSSL's few, with room to spare.
inline constexpr std::uint64_t kWorkerMaxFiles = 32;

}  // namespace sekisho::privsep
