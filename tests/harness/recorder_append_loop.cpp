// Child of the recorder crash test: appends loop_record(0), loop_record(1), … to a new recording
// until it is killed, writing one byte to stdout per 20 records taken.
// Usage: recorder_append_loop KEYS_DIR FILE [fd]
// With "fd" the file is created here and written through Writer::create_at, as a session worker
// writes the file the core created.
#include "tests/harness/recorder_append_loop.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string_view>

#include "tests/harness/recorder_keys.hpp"

int main(int argc, char** argv) {
  using namespace sekisho;
  if (argc != 3 && !(argc == 4 && std::string_view(argv[3]) == "fd")) return 2;
  const auto keys = testing::load_tool_keys(argv[1]);
  recorder::Header h;
  h.session_id = "crash";
  h.protocol = "ssh";
  auto key = recorder::new_data_key(keys.recording_key, h.session_id);
  recorder::WriterOptions o;
  o.chunk_bytes = 8192;
  o.flush_interval = std::chrono::milliseconds(5);
  o.queue_bytes = 256 * 1024;
  auto w = argc == 4
               ? recorder::Writer::create_at(
                     ::open(argv[2], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), argv[2], h,
                     std::move(*key), keys.signer.public_pem(), o)
               : recorder::Writer::create(argv[2], h, std::move(*key), keys.signer.public_pem(), o);
  if (!w) return 3;
  for (std::uint64_t i = 0;; ++i) {
    const auto r = testing::loop_record(i);
    // Bounded retry per record; a relay would end the session instead of waiting.
    recorder::AppendStatus s = recorder::AppendStatus::kQueueFull;
    for (int tries = 0; tries < 100000 && s == recorder::AppendStatus::kQueueFull; ++tries) {
      s = (*w)->append(r);
      if (s == recorder::AppendStatus::kQueueFull) usleep(200);
    }
    if (s != recorder::AppendStatus::kOk) return 4;
    if (i % 20 == 19 && write(1, "+", 1) != 1) return 5;
  }
}
