// Fuzz target for everything that parses a recording handed in from outside: the file header,
// chunk frames, records, the closing record and signature check (verify), the reader's open and
// replay, and the text index. The data key is fixed so that seeds made with it (make_seeds)
// decrypt and reach the record parser.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "recorder/format.hpp"
#include "recorder/recording.hpp"
#include "recorder/text_index.hpp"

namespace {

using namespace sekisho;

// The fixed data key of the fuzz seeds: 32 bytes of 0x5a.
Secret fuzz_data_key() {
  Secret k(32);
  for (std::size_t i = 0; i < k.size(); ++i) k.data()[i] = 0x5a;
  return k;
}

void exercise_file(const std::string& path) {
  auto report = recorder::verify(path, std::nullopt);
  (void)report;
  auto reader = recorder::Reader::open(
      path, [](const recorder::Header&, ByteView) -> Result<Secret> { return fuzz_data_key(); });
  if (!reader) return;
  std::size_t seen = 0;
  (void)(*reader)->replay(0, [&](const recorder::Record&) { return ++seen < 100000; });
  (void)(*reader)->replay((*reader)->duration_us() / 2,
                          [](const recorder::Record&) { return true; });
  (void)(*reader)->search("root", 10);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The reader takes a path: the input lives in an anonymous memory file.
  const int fd = memfd_create("skr-fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  exercise_file("/proc/self/fd/" + std::to_string(fd));
  close(fd);

  // The parsers that sit behind authentication, fed directly.
  const ByteView in(data, size);
  if (size >= recorder::format::kFrameHeaderBytes) {
    auto frame = recorder::format::decode_frame_header(in, "chunk 0");
    if (frame) {
      (void)recorder::format::decode_records(in.subspan(recorder::format::kFrameHeaderBytes),
                                             *frame, "chunk 0");
    }
  }
  (void)recorder::format::decode_closing(in);
  if (auto text = recorder::TextIndex::decode(in)) (void)text->search("a", 5);
  return 0;
}
