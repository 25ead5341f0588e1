// Fuzz target for the file-transfer parsers that read bytes from the SSH client and the target
// (worker/ssh/file_transfer.hpp): the SFTP filter in both directions under each policy, and the
// legacy scp command parser and protocol tracker. Input layout:
//   byte 0: bit 0 scp (else SFTP), bit 1 allow_upload, bit 2 allow_download, bit 3 (scp) upload
//   then chunks: a byte (bit 7: from the target; bits 0-6: length), that many bytes.
// For scp, the first chunk is the exec command. Besides not crashing, the filter must forward
// nothing once it has lost the stream.
#include <cstdint>
#include <string>
#include <string_view>

#include "worker/ssh/file_transfer.hpp"

namespace {

using namespace sekisho::worker;

struct Chunks {
  std::string_view in;
  bool next(bool& from_target, std::string_view& piece) {
    if (in.empty()) return false;
    const auto head = static_cast<std::uint8_t>(in[0]);
    in.remove_prefix(1);
    from_target = (head & 0x80) != 0;
    piece = in.substr(0, head & 0x7f);
    in.remove_prefix(piece.size());
    return true;
  }
};

void sftp(TransferPolicy policy, Chunks chunks) {
  SftpFilter f(policy);
  bool from_target = false;
  std::string_view piece;
  while (chunks.next(from_target, piece)) {
    std::string to_target, to_client;
    const bool was_lost = f.lost();
    if (from_target) {
      f.from_target(piece, to_client);
    } else {
      f.from_client(piece, to_target, to_client);
    }
    if (was_lost && !(to_target.empty() && to_client.empty())) __builtin_trap();
    (void)f.take_events();
    (void)f.take_changes();
    (void)f.take_refusals();
  }
  f.finish();
  (void)f.take_events();
  (void)f.take_changes();
}

void scp(bool upload, Chunks chunks) {
  bool from_target = false;
  std::string_view command;
  if (!chunks.next(from_target, command)) return;
  auto t = ScpTracker::from_command(command);
  if (!t) t = ScpTracker::from_command(upload ? "scp -r -d -t /srv/in" : "scp -f /var/log/x");
  std::string_view piece;
  while (chunks.next(from_target, piece)) {
    t->feed(piece);
    (void)t->take_events();
  }
  t->finish();
  (void)t->take_events();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto mode = static_cast<std::uint8_t>(in[0]);
  const Chunks chunks{in.substr(1)};
  if ((mode & 1) != 0) {
    scp((mode & 8) != 0, chunks);
  } else {
    sftp(TransferPolicy{(mode & 2) != 0, (mode & 4) != 0}, chunks);
  }
  return 0;
}
