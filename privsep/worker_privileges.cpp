#include "privsep/worker_privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <vector>

#include "base/files.hpp"

namespace sekisho::privsep {

namespace {

constexpr std::size_t kMaxUserName = 64;

// The chroot must stay empty and unwritable for the worker's uid, or a worker could plant files
// (a hard link to a setuid binary, a fake /etc) where the next worker starts.
Result<std::string> prepare_empty_root(const std::filesystem::path& data_root) {
  const auto path = data_root / "empty";
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return fail(ErrorCode::kIo, "cannot create " + path.string() + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(ErrorCode::kIo, path.string() + " is not a directory");
  }
  if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
    if (::chown(path.c_str(), 0, 0) != 0 || ::chmod(path.c_str(), 0755) != 0) {
      return fail(ErrorCode::kIo, "cannot make " + path.string() + " root-owned 0755");
    }
  }
  std::error_code ec;
  if (!std::filesystem::is_empty(path, ec) || ec) {
    return fail(ErrorCode::kIo, path.string() + " must be empty (the SSH workers' root)");
  }
  return path.string();
}

}  // namespace

Result<WorkerPrivileges> resolve_worker_privileges(const std::string& user,
                                                   const std::filesystem::path& data_root) {
  if (::geteuid() != 0) return WorkerPrivileges{};
  if (user.empty() || user.size() > kMaxUserName) {
    return fail(ErrorCode::kInvalidArgument, "ssh.worker_user must be 1 to 64 characters");
  }
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) {
    return fail(ErrorCode::kInvalidArgument, "ssh.worker_user \"" + user +
                                                 "\" does not exist (running as root, the SSH " +
                                                 "workers need an unprivileged user)");
  }
  if (pw.pw_uid == 0 || pw.pw_gid == 0) {
    return fail(ErrorCode::kInvalidArgument,
                "ssh.worker_user \"" + user + "\" has uid or gid 0: workers must not run as root");
  }
  auto root = prepare_empty_root(data_root);
  if (!root) return tl::make_unexpected(root.error());
  return WorkerPrivileges{true, user, pw.pw_uid, pw.pw_gid, std::move(*root)};
}

Result<void> apply_worker_privileges(const WorkerPrivileges& p) {
  if (p.change_user) {
    // Load the time zone while /etc is still visible: log lines keep local time after chroot.
    ::tzset();
    if (::chroot(p.root.c_str()) != 0 || ::chdir("/") != 0) {
      return fail(ErrorCode::kIo, "cannot chroot into " + p.root + ": " + errno_text(errno));
    }
    if (::setgroups(0, nullptr) != 0 || ::setresgid(p.gid, p.gid, p.gid) != 0 ||
        ::setresuid(p.uid, p.uid, p.uid) != 0) {
      return fail(ErrorCode::kIo, "cannot switch to " + p.user + ": " + errno_text(errno));
    }
    uid_t ru = 0, eu = 0, su = 0;
    gid_t rg = 0, eg = 0, sg = 0;
    if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0 || ru != p.uid ||
        eu != p.uid || su != p.uid || rg != p.gid || eg != p.gid || sg != p.gid ||
        ::getgroups(0, nullptr) != 0) {
      return fail(ErrorCode::kInternal, "the worker's ids are not " + p.user + "'s");
    }
    // These must fail now; if any succeeds, root was not given up.
    if (::setuid(0) == 0 || ::seteuid(0) == 0 || ::setgid(0) == 0) {
      return fail(ErrorCode::kInternal, "the worker could regain root");
    }
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return fail(ErrorCode::kIo, "PR_SET_NO_NEW_PRIVS: " + errno_text(errno));
  }
  // Not dumpable: no core file, and no ptrace or /proc/PID/mem by another process of the same
  // uid (every worker shares worker_user) to read this session's credential.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return fail(ErrorCode::kIo, "PR_SET_DUMPABLE: " + errno_text(errno));
  }
  const rlimit no_core{0, 0};
  const rlimit files{kWorkerMaxFiles, kWorkerMaxFiles};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0 || ::setrlimit(RLIMIT_NOFILE, &files) != 0) {
    return fail(ErrorCode::kIo, "setrlimit: " + errno_text(errno));
  }
  return ok();
}

nlohmann::json privileges_to_hello(const WorkerPrivileges& p) {
  if (!p.change_user) return nullptr;
  return {{"user", p.user}, {"uid", p.uid}, {"gid", p.gid}, {"root", p.root}};
}

Result<WorkerPrivileges> privileges_from_hello(const nlohmann::json& hello) {
  WorkerPrivileges p;
  const auto c = hello.find("change_user");
  if (c == hello.end() || c->is_null()) return p;
  const auto bad = [] { return fail(ErrorCode::kInvalidArgument, "bad privileges in the hello"); };
  if (!c->is_object()) return bad();
  try {
    p.change_user = true;
    p.user = c->value("user", "");
    p.uid = c->value("uid", uid_t{0});
    p.gid = c->value("gid", gid_t{0});
    p.root = c->value("root", "");
  } catch (const nlohmann::json::exception&) {  // a field of the wrong type
    return bad();
  }
  if (p.uid == 0 || p.gid == 0 || p.root.empty()) return bad();
  return p;
}

}  // namespace sekisho::privsep
