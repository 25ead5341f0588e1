#include "worker/ssh/file_transfer.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "base/crypto.hpp"
#include "tests/unit/worker/ssh/sftp_packets.hpp"

namespace sekisho::worker {
namespace {

using namespace sftp_test;

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

Digest digest_of(const std::string& s) {
  return sha256(ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

// Feeds `in` split at `cut` (0: whole) and checks what is forwarded equals the input.
void feed_client(SftpFilter& f, const std::string& in, std::size_t cut, std::string& to_target,
                 std::string& to_client) {
  if (cut == 0 || cut >= in.size()) {
    f.from_client(in, to_target, to_client);
    return;
  }
  f.from_client(std::string_view(in).substr(0, cut), to_target, to_client);
  f.from_client(std::string_view(in).substr(cut), to_target, to_client);
}
void feed_target(SftpFilter& f, const std::string& in, std::size_t cut, std::string& to_client) {
  if (cut == 0 || cut >= in.size()) {
    f.from_target(in, to_client);
    return;
  }
  f.from_target(std::string_view(in).substr(0, cut), to_client);
  f.from_target(std::string_view(in).substr(cut), to_client);
}

TEST(SftpFilter, UploadSplitAtEveryByte) {
  const std::string file = random_bytes(3000, 1);
  const std::string client = open_req(1, "/tmp/up.bin", 0x02 | 0x08 | 0x10) +
                             write_req(2, "H1", 0, file.substr(0, 1000)) +
                             write_req(3, "H1", 1000, file.substr(1000)) + close_req(4, "H1");
  for (std::size_t cut = 0; cut < client.size(); ++cut) {
    SftpFilter f({});
    std::string to_target, to_client;
    // The OPEN goes first and its HANDLE reply comes back before the WRITEs are parsed.
    const std::size_t open_len = open_req(1, "/tmp/up.bin", 0x1a).size();
    const std::size_t c = std::min(cut, open_len);
    feed_client(f, client.substr(0, open_len), c, to_target, to_client);
    f.from_target(handle_rep(1, "H1"), to_client);
    feed_client(f, client.substr(open_len), cut > open_len ? cut - open_len : 0, to_target,
                to_client);
    ASSERT_EQ(to_target, client) << cut;
    auto events = f.take_events();
    ASSERT_EQ(events.size(), 1U) << cut;
    EXPECT_EQ(events[0].path, "/tmp/up.bin");
    EXPECT_TRUE(events[0].upload);
    EXPECT_EQ(events[0].size, 3000U);
    ASSERT_TRUE(events[0].sha256) << events[0].note;
    EXPECT_EQ(*events[0].sha256, digest_of(file));
  }
}

TEST(SftpFilter, DownloadOutOfOrderSplitAtEveryByte) {
  const std::string file = random_bytes(2500, 2);
  const std::string requests = open_req(7, "/etc/big", 0x01);
  const std::string reads = read_req(8, "hh", 0, 1000) + read_req(9, "hh", 1000, 1000) +
                            read_req(10, "hh", 2000, 1000) + read_req(11, "hh", 3000, 1000);
  // Replies out of order: the third, the first, EOF for the fourth, the second.
  const std::string replies = data_rep(10, file.substr(2000)) + data_rep(8, file.substr(0, 1000)) +
                              status_rep(11, 1) + data_rep(9, file.substr(1000, 1000));
  for (std::size_t cut = 0; cut < replies.size(); ++cut) {
    SftpFilter f({});
    std::string to_target, to_client;
    f.from_client(requests, to_target, to_client);
    f.from_target(handle_rep(7, "hh"), to_client);
    f.from_client(reads, to_target, to_client);
    std::string replies_out;
    feed_target(f, replies, cut, replies_out);
    ASSERT_EQ(replies_out, replies) << cut;
    f.from_client(close_req(12, "hh"), to_target, to_client);
    auto events = f.take_events();
    ASSERT_EQ(events.size(), 1U);
    EXPECT_FALSE(events[0].upload);
    EXPECT_EQ(events[0].path, "/etc/big");
    EXPECT_EQ(events[0].size, 2500U);
    ASSERT_TRUE(events[0].sha256) << events[0].note;
    EXPECT_EQ(*events[0].sha256, digest_of(file));
  }
}

TEST(SftpFilter, GapOrOverlapGivesNoHash) {
  const std::string file = random_bytes(2000, 3);
  SftpFilter f({});
  std::string t, c;
  f.from_client(open_req(1, "/x", 0x1a), t, c);
  f.from_target(handle_rep(1, "h"), c);
  f.from_client(write_req(2, "h", 1000, file.substr(1000)), t, c);  // the first half never comes
  f.from_client(close_req(3, "h"), t, c);
  auto e = f.take_events();
  ASSERT_EQ(e.size(), 1U);
  EXPECT_FALSE(e[0].sha256);
  EXPECT_NE(e[0].note.find("not computed"), std::string::npos);
  EXPECT_EQ(e[0].size, 2000U);

  f.from_client(open_req(4, "/y", 0x1a), t, c);
  f.from_target(handle_rep(4, "h"), c);
  f.from_client(write_req(5, "h", 0, file), t, c);
  f.from_client(write_req(6, "h", 10, "again"), t, c);  // rewrites hashed bytes
  f.from_client(close_req(7, "h"), t, c);
  e = f.take_events();
  ASSERT_EQ(e.size(), 1U);
  EXPECT_FALSE(e[0].sha256);
}

TEST(SftpFilter, OutOfOrderBeyondTheBudgetGivesNoHash) {
  SftpFilter f({});
  std::string t, c;
  f.from_client(open_req(1, "/x", 0x01), t, c);
  f.from_target(handle_rep(1, "h"), c);
  const std::string piece(200 * 1024, 'a');
  const std::size_t n = kMaxOutOfOrder / piece.size() + 2;
  for (std::uint32_t i = 0; i < n + 1; ++i) {
    f.from_client(read_req(10 + i, "h", std::uint64_t{i} * piece.size(),
                           static_cast<std::uint32_t>(piece.size())),
                  t, c);
  }
  for (std::uint32_t i = 1; i < n + 1; ++i) f.from_target(data_rep(10 + i, piece), c);  // 0 late
  f.from_target(data_rep(10, piece), c);
  f.from_client(close_req(99, "h"), t, c);
  auto e = f.take_events();
  ASSERT_EQ(e.size(), 1U);
  EXPECT_FALSE(e[0].sha256);
  EXPECT_NE(e[0].note.find("out of order"), std::string::npos) << e[0].note;
}

// A stream the parser loses sync with is never passed through unparsed (the relay ends it).
TEST(SftpFilter, OversizePacketEndsTheStream) {
  SftpFilter f({});
  std::string t, c;
  f.from_client(open_req(1, "/x", 0x1a), t, c);
  f.from_target(handle_rep(1, "h"), c);
  t.clear();
  std::string huge;
  u32(huge, kMaxSftpPacket + 1);
  huge += "garbage that follows";
  f.from_client(huge, t, c);
  EXPECT_TRUE(f.lost());
  EXPECT_EQ(t, "");
  f.from_client("more", t, c);
  EXPECT_EQ(t, "");
  std::string from_target;
  f.from_target(data_rep(9, "anything"), from_target);
  EXPECT_EQ(from_target, "");
  auto e = f.take_events();  // the open file is reported without a hash
  ASSERT_EQ(e.size(), 1U);
  EXPECT_FALSE(e[0].sha256);
}

TEST(SftpFilter, GarbageNeverThrowsAndIsNotForwarded) {
  for (unsigned seed = 0; seed < 200; ++seed) {
    const std::string junk = random_bytes(1 + seed * 7, seed);
    SftpFilter f({});
    std::string t, c, c2;
    f.from_client(junk, t, c);
    f.from_target(junk, c2);
    // Only whole packets the filter parsed go on: nothing forwarded is made up.
    EXPECT_TRUE(junk.starts_with(t));
    EXPECT_TRUE(junk.starts_with(c2));
    if (f.lost()) {
      const std::size_t before = t.size();
      f.from_client(junk, t, c);
      EXPECT_EQ(t.size(), before);
    }
    f.finish();
  }
  // Malformed body inside a well-framed packet.
  SftpFilter f({});
  std::string t, c;
  f.from_client(packet(3, "xx"), t, c);
  EXPECT_TRUE(f.lost());
  EXPECT_EQ(t, "");
}

TEST(SftpFilter, DeniedUploadIsAnsweredHereAndNotForwarded) {
  SftpFilter f({.upload = false, .download = true});
  std::string t, c;
  f.from_client(open_req(5, "/etc/passwd", 0x1a), t, c);
  EXPECT_EQ(t, "");
  EXPECT_EQ(c.substr(4, 1), std::string(1, char(101)));     // SSH_FXP_STATUS
  EXPECT_EQ(c.substr(5, 4), std::string("\0\0\0\x05", 4));  // id 5
  EXPECT_EQ(c.substr(9, 4), std::string("\0\0\0\x03", 4));  // SSH_FX_PERMISSION_DENIED
  EXPECT_EQ(f.take_refusals(), std::vector<std::string>{"upload /etc/passwd"});
  // Reading is still allowed.
  c.clear();
  f.from_client(open_req(6, "/etc/hosts", 0x01), t, c);
  EXPECT_EQ(t, open_req(6, "/etc/hosts", 0x01));
  EXPECT_EQ(c, "");
}

TEST(SftpFilter, DeniedDownload) {
  SftpFilter f({.upload = true, .download = false});
  std::string t, c;
  f.from_client(open_req(5, "/etc/shadow", 0x01), t, c);
  EXPECT_EQ(t, "");
  EXPECT_FALSE(c.empty());
  EXPECT_EQ(f.take_refusals(), std::vector<std::string>{"download /etc/shadow"});
}

TEST(SftpFilter, UnclosedFileReportedAtFinish) {
  SftpFilter f({});
  std::string t, c;
  f.from_client(open_req(1, "/x", 0x1a), t, c);
  f.from_target(handle_rep(1, "h"), c);
  f.from_client(write_req(2, "h", 0, "abc"), t, c);
  f.finish();
  auto e = f.take_events();
  ASSERT_EQ(e.size(), 1U);
  EXPECT_NE(e[0].note.find("not closed"), std::string::npos);
  EXPECT_EQ(e[0].size, 3U);
}

TEST(SftpFilter, HandleAndRequestTablesAreBounded) {
  SftpFilter f({});
  std::string t, c;
  for (std::uint32_t i = 0; i < kMaxSftpHandles + 50; ++i) {
    f.from_client(open_req(i, "/f" + std::to_string(i), 0x01), t, c);
    f.from_target(handle_rep(i, "h" + std::to_string(i)), c);
  }
  f.finish();
  EXPECT_EQ(f.take_events().size(), kMaxSftpHandles);
}

// --- scp ----------------------------------------------------------------------------------------

TEST(ScpTracker, ParsesCommands) {
  auto up = ScpTracker::from_command("scp -t /tmp/dest");
  ASSERT_TRUE(up);
  EXPECT_TRUE(up->upload());
  EXPECT_EQ(up->path(), "/tmp/dest");
  auto down = ScpTracker::from_command("scp -v -f -- -odd.name");
  ASSERT_TRUE(down);
  EXPECT_FALSE(down->upload());
  EXPECT_EQ(down->path(), "-odd.name");
  EXPECT_FALSE(ScpTracker::from_command("ls -t /tmp"));
  EXPECT_FALSE(ScpTracker::from_command("scp /a /b"));
  EXPECT_FALSE(ScpTracker::from_command("scp -t -f /a"));
  EXPECT_FALSE(ScpTracker::from_command(""));
}

// What OpenSSH's scp sends: "scp[ -v][ -r][ -p][ -d] -t|-f [-- ]PATH" with PATH unquoted (the
// remote shell reads it). Only that is a transfer; anything else is a recorded session.
TEST(ScpTracker, AcceptsOnlyWhatOpenSshSends) {
  for (const char* ok : {"scp -t /tmp/dest", "scp -f /var/log/syslog", "scp -v -r -p -d -t /srv/in",
                         "scp -r -f dir", "scp -d -t ~/in/", "scp -t -- -dash",
                         "scp -p -f /srv/a_b-c.d,e+f=g@h%i:j", "scp -f /srv/\xc3\xa9t\xc3\xa9"}) {
    EXPECT_TRUE(ScpTracker::from_command(ok)) << ok;
  }
  for (const char* bad : {"scp -f x </dev/null; id",
                          "scp -t x; id",
                          "scp -f x && id",
                          "scp -f x | id",
                          "scp -f x >/tmp/y",
                          "scp -f $(id)",
                          "scp -f `id`",
                          "scp -f 'a b'",
                          "scp -f \"a\"",
                          "scp -f a\\b",
                          "scp -f a b",
                          "scp -f x\nid",
                          "scp -f x\tid",
                          "scp  -f x",
                          "scp -f x ",
                          "scp -f *.log",
                          "scp -f a?",
                          "scp -f [ab]",
                          "scp -f {a,b}",
                          "scp -f x#y",
                          "scp -f $HOME",
                          "scp -f !x",
                          "scp -f a&",
                          "scp -f (a)",
                          "/usr/bin/scp -f x",
                          "scp -ft x",
                          "scp -f -x",
                          "scp -d -v -t x",
                          "scp -v -v -t x",
                          "scp -S prog -f x",
                          "scp -f",
                          "scp -f --",
                          "scp -f -- ",
                          "scp -t x -f y",
                          "scp -o a -f x"}) {
    EXPECT_FALSE(ScpTracker::from_command(bad)) << bad;
  }
  auto nul = ScpTracker::from_command(std::string("scp -f x\0; id", 14));
  EXPECT_FALSE(nul);
}

TEST(ScpTracker, UploadSplitAtEveryByte) {
  const std::string a = random_bytes(700, 5), b = random_bytes(300, 6);
  const std::string stream = "T1700000000 0 1700000000 0\nC0644 700 a.bin\n" + a +
                             std::string(1, '\0') + "D0755 0 sub\nC0600 300 b.bin\n" + b +
                             std::string(1, '\0') + "E\nC0644 0 empty\n" + std::string(1, '\0');
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    auto s = ScpTracker::from_command("scp -r -d -t /srv/in");
    ASSERT_TRUE(s);
    s->feed(std::string_view(stream).substr(0, cut));
    s->feed(std::string_view(stream).substr(cut));
    s->finish();
    ASSERT_FALSE(s->lost()) << cut;
    auto e = s->take_events();
    ASSERT_EQ(e.size(), 3U) << cut;
    EXPECT_EQ(e[0].path, "/srv/in/a.bin");
    EXPECT_EQ(e[0].size, 700U);
    EXPECT_EQ(*e[0].sha256, digest_of(a));
    EXPECT_EQ(e[1].path, "/srv/in/sub/b.bin");
    EXPECT_EQ(*e[1].sha256, digest_of(b));
    EXPECT_EQ(e[2].path, "/srv/in/empty");
    EXPECT_EQ(e[2].size, 0U);
    EXPECT_EQ(*e[2].sha256, digest_of(""));
    EXPECT_TRUE(e[0].upload);
  }
}

TEST(ScpTracker, DownloadPathsAndSingleFileUpload) {
  auto d = ScpTracker::from_command("scp -f /var/log/syslog");
  d->feed("C0640 3 syslog\nabc");
  d->feed(std::string(1, '\0'));
  auto e = d->take_events();
  ASSERT_EQ(e.size(), 1U);
  EXPECT_EQ(e[0].path, "/var/log/syslog");
  EXPECT_FALSE(e[0].upload);

  auto u = ScpTracker::from_command("scp -t /tmp/renamed.txt");
  u->feed("C0644 2 orig.txt\nhi");
  e = u->take_events();
  ASSERT_EQ(e.size(), 1U);
  EXPECT_EQ(e[0].path, "/tmp/renamed.txt");
  EXPECT_NE(e[0].note.find("/tmp/renamed.txt/orig.txt"), std::string::npos);

  auto dir = ScpTracker::from_command("scp -t /tmp/");
  dir->feed("C0644 2 orig.txt\nhi");
  e = dir->take_events();
  ASSERT_EQ(e.size(), 1U);
  EXPECT_EQ(e[0].path, "/tmp/orig.txt");
}

TEST(ScpTracker, CutShortAndGarbage) {
  auto s = ScpTracker::from_command("scp -t /tmp/x");
  s->feed("C0644 10 x\nabc");
  s->finish();
  auto e = s->take_events();
  ASSERT_EQ(e.size(), 1U);
  EXPECT_FALSE(e[0].sha256);
  EXPECT_NE(e[0].note.find("session ended"), std::string::npos);

  for (const char* bad : {"Cnonsense\n", "C0644 -5 x\n", "C0644 5 ../x\n", "Zzz\n"}) {
    auto g = ScpTracker::from_command("scp -t /tmp");
    g->feed(bad);
    EXPECT_TRUE(g->lost()) << bad;
    g->feed("C0644 1 y\nz");  // nothing more is tracked
    EXPECT_TRUE(g->take_events().empty());
  }
  auto longline = ScpTracker::from_command("scp -t /tmp");
  longline->feed(std::string(9000, 'C'));
  EXPECT_TRUE(longline->lost());
}

}  // namespace
}  // namespace sekisho::worker
