// The HTTPS API: routes, JSON error shape and request limits (cpp-httplib on the gateway's TLS
// identity).
#pragma once

#include <memory>
#include <string>

#include "base/result.hpp"
#include "broker/api_router.hpp"
#include "broker/api_routes.hpp"
#include "broker/config.hpp"
#include "storage/data_dir.hpp"

namespace httplib {
class SSLServer;
}

namespace sekisho::broker {

class ApiServer {
 public:
  // Loads the TLS identity of `dir` and registers the routes, which work on `ctx` (it must
  // outlive the server). Binds nothing yet.
  [[nodiscard]] static Result<std::unique_ptr<ApiServer>> create(const storage::DataDir& dir,
                                                                 const Config& config,
                                                                 ApiContext& ctx);
  ~ApiServer();

  // Binds the listen address; returns the bound port (the kernel's choice when configured as 0).
  [[nodiscard]] Result<int> bind(const ListenAddress& address);
  // Serves until stop(); returns false when the server failed rather than being stopped.
  bool run();
  // Makes run() return. Any thread may call it.
  void stop();

 private:
  explicit ApiServer(std::unique_ptr<httplib::SSLServer> server);
  void add_routes(const Config& config, ApiContext& ctx);

  std::unique_ptr<httplib::SSLServer> server_;
  std::unique_ptr<ApiRouter> router_;
};

}  // namespace sekisho::broker
