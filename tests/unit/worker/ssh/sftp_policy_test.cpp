// SftpFilter: the policy decided by what OpenSSH's sftp-server does with each request, and the
// requests that change the target (issue 12 "An unrecorded path").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/worker/ssh/sftp_packets.hpp"
#include "worker/ssh/file_transfer.hpp"

namespace sekisho::worker {
namespace {

using namespace sftp_test;

// OpenSSH's sftp-server opens O_RDONLY when neither READ nor WRITE is set (flags_from_portable):
// the policy decides by what the server will allow, not by the flag the client chose.
TEST(SftpFilter, OpenWithoutReadFlagIsStillARead) {
  for (std::uint32_t pflags : {0x00U, 0x04U /* APPEND alone: O_RDONLY|O_APPEND */}) {
    SftpFilter f({.upload = true, .download = false});
    std::string t, c;
    f.from_client(open_req(5, "/etc/shadow", pflags), t, c);
    EXPECT_EQ(t, "") << pflags;
    EXPECT_EQ(status_of(c, 5), 3) << pflags;  // SSH_FX_PERMISSION_DENIED
    EXPECT_EQ(f.take_refusals(), std::vector<std::string>{"download /etc/shadow"});
  }
  // TRUNC or CREAT without WRITE still changes the file (O_RDONLY|O_TRUNC truncates on Linux).
  for (std::uint32_t pflags : {0x10U, 0x08U, 0x01U | 0x10U}) {
    SftpFilter f({.upload = false, .download = true});
    std::string t, c;
    f.from_client(open_req(6, "/etc/passwd", pflags), t, c);
    EXPECT_EQ(t, "") << pflags;
    EXPECT_EQ(status_of(c, 6), 3) << pflags;
  }
}

// READ/WRITE are decided per handle: a handle opened for writing cannot be read under
// allow_download = false, a read-only one cannot be written under allow_upload = false, and a
// handle the filter does not know (guessed, or from OPENDIR) moves no file contents.
TEST(SftpFilter, ReadAndWriteRefusedOnHandlesThePolicyDoesNotAllow) {
  SftpFilter f({.upload = true, .download = false});
  std::string t, c;
  f.from_client(open_req(1, "/tmp/w", 0x02 | 0x08), t, c);
  ASSERT_EQ(t, open_req(1, "/tmp/w", 0x0a));
  f.from_target(handle_rep(1, "hw"), c);
  t.clear();
  c.clear();
  f.from_client(read_req(2, "hw", 0, 100), t, c);
  EXPECT_EQ(t, "");
  EXPECT_EQ(status_of(c, 2), 3);
  c.clear();
  f.from_client(read_req(3, "guessed", 0, 100), t, c);
  EXPECT_EQ(t, "");
  EXPECT_EQ(status_of(c, 3), 3);
  c.clear();
  f.from_client(write_req(4, "hw", 0, "ok"), t, c);
  EXPECT_EQ(t, write_req(4, "hw", 0, "ok"));
  EXPECT_EQ(c, "");

  SftpFilter g({.upload = false, .download = true});
  t.clear();
  c.clear();
  g.from_client(open_req(1, "/etc/hosts", 0x01), t, c);
  g.from_target(handle_rep(1, "hr"), c);
  t.clear();
  c.clear();
  g.from_client(write_req(2, "hr", 0, "x"), t, c);
  EXPECT_EQ(t, "");
  EXPECT_EQ(status_of(c, 2), 3);
  c.clear();
  g.from_client(write_req(3, "guessed", 0, "x"), t, c);
  EXPECT_EQ(t, "");
  EXPECT_EQ(status_of(c, 3), 3);
}

// Requests that can move file contents and that the filter does not follow are refused here:
// unknown packet types and extensions, and copy-data (a server-side copy) under allow_upload =
// false; SETSTAT of a size (truncation) under allow_upload = false.
TEST(SftpFilter, UnknownRequestsThatCouldMoveContentsAreRefused) {
  SftpFilter f({.upload = false, .download = true});
  std::string t, c;
  f.from_client(extended_req(1, "x-upload@example.com", "data"), t, c);
  EXPECT_EQ(t, "");
  EXPECT_EQ(status_of(c, 1), 8);  // SSH_FX_OP_UNSUPPORTED
  c.clear();
  std::string body;
  u32(body, 2);
  body += "junk";
  f.from_client(packet(42, body), t, c);
  EXPECT_EQ(t, "");
  EXPECT_EQ(status_of(c, 2), 8);
  c.clear();
  std::string copy;
  str(copy, "hr");
  u64(copy, 0);
  u64(copy, 0);
  str(copy, "hw");
  u64(copy, 0);
  f.from_client(extended_req(3, "copy-data", copy), t, c);
  EXPECT_EQ(t, "");
  EXPECT_EQ(status_of(c, 3), 3);
  c.clear();
  std::string setstat;
  u32(setstat, 4);
  str(setstat, "/etc/passwd");
  u32(setstat, 0x01);  // SSH_FILEXFER_ATTR_SIZE
  u64(setstat, 0);
  f.from_client(packet(9, setstat), t, c);
  EXPECT_EQ(t, "");
  EXPECT_EQ(status_of(c, 4), 3);
  // Metadata-only extensions pass.
  c.clear();
  std::string sv;
  str(sv, "/");
  f.from_client(extended_req(5, "statvfs@openssh.com", sv), t, c);
  EXPECT_EQ(t, extended_req(5, "statvfs@openssh.com", sv));
  EXPECT_EQ(c, "");
}

// Requests that change the target are reported with their paths and the server's answer.
TEST(SftpFilter, ChangesAreReportedWithPathsAndResults) {
  SftpFilter f({.upload = false, .download = false});
  std::string t, c;
  const auto one = [](std::uint8_t type, std::uint32_t id, const std::string& a,
                      const std::string& rest = "") {
    std::string b;
    u32(b, id);
    str(b, a);
    return packet(type, b + rest);
  };
  const auto two = [](std::uint8_t type, std::uint32_t id, const std::string& a,
                      const std::string& z) {
    std::string b;
    u32(b, id);
    str(b, a);
    str(b, z);
    return packet(type, b);
  };
  std::string attrs;
  u32(attrs, 0x04);  // permissions only: no size
  u32(attrs, 0600);
  f.from_client(one(13, 1, "/srv/rm"), t, c);                       // REMOVE
  f.from_client(two(18, 2, "/srv/a", "/srv/b"), t, c);              // RENAME
  f.from_client(one(14, 3, "/srv/d", std::string(4, '\0')), t, c);  // MKDIR, no attrs
  f.from_client(one(15, 4, "/srv/d"), t, c);                        // RMDIR
  f.from_client(one(9, 5, "/srv/b", attrs), t, c);                  // SETSTAT (chmod)
  f.from_client(two(20, 6, "/srv/b", "/srv/ln"), t, c);             // SYMLINK
  std::string ext;
  str(ext, "/srv/b");
  str(ext, "/srv/hard");
  f.from_client(extended_req(7, "hardlink@openssh.com", ext), t, c);
  f.from_client(extended_req(8, "posix-rename@openssh.com", ext), t, c);
  EXPECT_EQ(c, "");  // all forwarded, none answered here
  for (std::uint32_t id = 1; id <= 7; ++id) f.from_target(status_rep(id, id == 4 ? 4 : 0), c);
  auto changes = f.take_changes();
  ASSERT_EQ(changes.size(), 7U);
  EXPECT_EQ(changes[0].operation, "remove");
  EXPECT_EQ(changes[0].path, "/srv/rm");
  EXPECT_EQ(changes[0].result, "ok");
  EXPECT_EQ(changes[1].operation, "rename");
  EXPECT_EQ(changes[1].path, "/srv/a");
  EXPECT_EQ(changes[1].new_path, "/srv/b");
  EXPECT_EQ(changes[2].operation, "mkdir");
  EXPECT_EQ(changes[3].operation, "rmdir");
  EXPECT_EQ(changes[3].result, "failed");
  EXPECT_EQ(changes[4].operation, "setstat");
  EXPECT_EQ(changes[5].operation, "symlink");
  EXPECT_EQ(changes[5].new_path, "/srv/ln");
  EXPECT_EQ(changes[6].operation, "hardlink");
  EXPECT_EQ(changes[6].new_path, "/srv/hard");
  f.finish();  // the posix-rename never got an answer
  changes = f.take_changes();
  ASSERT_EQ(changes.size(), 1U);
  EXPECT_EQ(changes[0].operation, "rename");
  EXPECT_EQ(changes[0].result, "no reply");
}

// copy-data between two handles seen opened (read, write) passes and is reported as a change.
TEST(SftpFilter, CopyDataBetweenAllowedHandlesIsAChange) {
  SftpFilter f({});
  std::string t, c;
  f.from_client(open_req(1, "/srv/src", 0x01), t, c);
  f.from_target(handle_rep(1, "r"), c);
  f.from_client(open_req(2, "/srv/dst", 0x1a), t, c);
  f.from_target(handle_rep(2, "w"), c);
  std::string copy;
  str(copy, "r");
  u64(copy, 0);
  u64(copy, 0);
  str(copy, "w");
  u64(copy, 0);
  t.clear();
  f.from_client(extended_req(3, "copy-data", copy), t, c);
  EXPECT_EQ(t, extended_req(3, "copy-data", copy));
  f.from_target(status_rep(3, 0), c);
  auto changes = f.take_changes();
  ASSERT_EQ(changes.size(), 1U);
  EXPECT_EQ(changes[0].operation, "copy");
  EXPECT_EQ(changes[0].path, "/srv/src");
  EXPECT_EQ(changes[0].new_path, "/srv/dst");
}

}  // namespace
}  // namespace sekisho::worker
