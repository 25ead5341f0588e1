// sekisho-worker: the SSH session worker executable, started by `sekishod serve` for each SSH
// connection on inherited descriptors (broker/session_worker.hpp); not for people.
#include <cstdio>

#include "base/logging.hpp"
#include "broker/session_worker.hpp"

int main(int argc, char**) {
  if (argc != 1) {
    std::fprintf(stderr,
                 "sekisho-worker: started by sekishod serve for each SSH connection; takes no "
                 "arguments\n");
    return 2;
  }
  sekisho::setup_logging(sekisho::LogFormat::kText, spdlog::level::info);
  return sekisho::broker::run_session_worker();
}
