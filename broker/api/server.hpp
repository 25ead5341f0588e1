// The HTTPS API: routes, JSON error shape and request limits. cpp-httplib routes and answers;
// ApiListener (broker/api/listener.hpp) owns the socket, the TLS sessions and the connection
// limits.
#pragma once

#include <memory>
#include <string>

#include "base/result.hpp"
#include "broker/api/router.hpp"
#include "broker/api/routes.hpp"
#include "broker/daemon/config.hpp"
#include "storage/data_dir.hpp"

typedef struct ssl_ctx_st SSL_CTX;

namespace sekisho::broker {

class ApiListener;
class ApiRequestProcessor;

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
  // Makes run() return. Any thread may call it, also before run().
  void stop();

 private:
  ApiServer() = default;
  void add_routes(const Config& config, ApiContext& ctx);

  struct TlsContextFree {
    void operator()(SSL_CTX* ctx) const;
  };
  std::unique_ptr<SSL_CTX, TlsContextFree> tls_;
  std::unique_ptr<ApiRequestProcessor> server_;
  std::unique_ptr<ApiRouter> router_;
  std::unique_ptr<ApiListener> listener_;
};

}  // namespace sekisho::broker
