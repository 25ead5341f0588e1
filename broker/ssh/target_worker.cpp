#include "broker/ssh/target_worker.hpp"

#include "broker/sessions/target_connect.hpp"
#include "privsep/worker_privileges.hpp"

namespace sekisho::broker {

std::string target_where(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

Result<TargetWorker> start_target_worker(const HostKeyProbe& workers, const std::string& address,
                                         std::uint16_t port, std::chrono::milliseconds timeout) {
  const std::string where = target_where(address, port);
  auto privileges = privsep::resolve_worker_privileges(workers.worker_user, workers.data_root);
  if (!privileges) return tl::make_unexpected(privileges.error());
  std::string exe = workers.worker_exe;
  if (exe.empty()) {
    auto beside = privsep::worker_executable_beside_me();
    if (!beside) return tl::make_unexpected(beside.error());
    exe = std::move(*beside);
  }
  auto tcp = connect_target_tcp(address, port, timeout);
  if (!tcp) {
    return fail(ErrorCode::kUnavailable, "cannot reach " + where + ": " + tcp.error().message);
  }
  auto worker = privsep::spawn_worker(exe, tcp->fd.get());
  tcp->fd = wire::Fd();  // the worker has its own copy; the core keeps none
  if (!worker) {
    return fail(worker.error().code, "cannot start a worker: " + worker.error().message);
  }
  return TargetWorker{std::move(*worker), privsep::privileges_to_hello(*privileges), where};
}

}  // namespace sekisho::broker
