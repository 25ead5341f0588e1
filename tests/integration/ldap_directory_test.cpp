// LdapDirectory against a real slapd (tests/harness/slapd.sh): TLS, StartTLS, group → role
// mapping, departed and locked staff, filter injection, directory down.
#include "ldap/ldap_directory.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/integration/ldap_test_harness.hpp"

namespace sekisho::ldap {
namespace {

namespace fs = std::filesystem;
using testing::Env;

// Test passwords from tests/data/ldap/people.ldif; never printed (Secret has no printer).
Secret password_of(const std::string& user) {
  static const std::map<std::string, std::string> kPasswords = {
      {"alice", "alice-Pw-91"}, {"bob", "bob-Pw-92"},   {"carol", "carol-Pw-93"},
      {"dave", "dave-Pw-94"},   {"erin", "erin-Pw-95"}, {"mallory", "mallory-Pw-96"}};
  return Secret::copy_of(std::string_view(kPasswords.at(user)));
}

constexpr char kGroups[] = "ou=groups,dc=example,dc=com";

class LdapDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::adopt_orphans();
    dir_ = testing::make_temp_dir("sekisho-slapd");
    ASSERT_FALSE(dir_.empty());
    std::string out;
    const int rc =
        testing::run_command(testing::owner_env() + "bash " + testing::quote(SLAPD_HARNESS) +
                                 " start " + testing::quote(dir_ / "slapd"),
                             &out);
    env_ = testing::parse_env(out);
    ASSERT_EQ(rc, 0) << "slapd harness failed; see " << (dir_ / "slapd");
    ASSERT_FALSE(env_["SLAPD_PID"].empty());
    std::cerr << "slapd ready in " << env_["SLAPD_START_MS"] << " ms (data loaded at "
              << env_["SLAPD_TOTAL_MS"] << " ms)\n";
  }

  void TearDown() override {
    stop_slapd();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void stop_slapd() {
    if (env_["SLAPD_PID"].empty()) return;
    testing::run_command(
        "bash " + testing::quote(SLAPD_HARNESS) + " stop " + testing::quote(dir_ / "slapd"),
        nullptr);
    testing::kill_and_reap(env_["SLAPD_PID"]);
    env_["SLAPD_PID"].clear();
  }

  LdapConfig config() {
    LdapConfig c;
    c.url = env_["SLAPD_LDAPS_URL"];
    c.ca_file = env_["SLAPD_CA"];
    c.bind_dn = env_["SLAPD_BIND_DN"];
    c.bind_password_file = env_["SLAPD_BIND_PW_FILE"];
    c.user_base = env_["SLAPD_BASE"];
    c.group_base = kGroups;
    c.departed_filter = "(employeeType=departed)";
    c.role_groups = {
        {"requester", {"cn=pam-requesters,ou=groups,dc=example,dc=com"}},
        // Spelling differs from the directory's on purpose: DNs compare case-insensitively.
        {"approver", {"CN=PAM-Approvers, OU=Groups, DC=Example, DC=Com"}},
        {"auditor", {"cn=pam-auditors,ou=groups,dc=example,dc=com"}},
        {"operator", {"cn=pam-operators,ou=groups,dc=example,dc=com"}},
    };
    c.timeout = std::chrono::seconds(5);
    return c;
  }

  std::unique_ptr<LdapDirectory> directory(const LdapConfig& c) {
    auto d = LdapDirectory::create(c);
    EXPECT_TRUE(d) << d.error().message;
    return d ? std::move(*d) : nullptr;
  }

  fs::path dir_;
  Env env_;
};

TEST_F(LdapDirectoryTest, RightPasswordGivesIdentityWithRolesFromGroups) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  auto alice = d->authenticate("alice", password_of("alice"));
  ASSERT_TRUE(alice) << alice.error().message;
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->source, "ldap");
  EXPECT_EQ(alice->dn, "uid=alice,ou=people,dc=example,dc=com");
  EXPECT_EQ(alice->status, StaffStatus::kActive);
  EXPECT_EQ(alice->roles, (std::vector<std::string>{"operator", "requester"}));
  EXPECT_EQ(alice->groups.size(), 2u);

  auto carol = d->authenticate("carol", password_of("carol"));
  ASSERT_TRUE(carol) << carol.error().message;
  EXPECT_EQ(carol->roles, (std::vector<std::string>{"approver", "auditor", "requester"}));

  auto mallory = d->authenticate("mallory", password_of("mallory"));
  ASSERT_TRUE(mallory) << mallory.error().message;
  EXPECT_TRUE(mallory->roles.empty());
}

TEST_F(LdapDirectoryTest, GroupsAreFoundUnderGroupBaseWithoutMemberOf) {
  // mallory is only in a groupOfUniqueNames group, which the memberof overlay does not track.
  LdapConfig c = config();
  c.role_groups["auditor"].push_back("cn=pam-legacy-auditors,ou=groups,dc=example,dc=com");
  auto d = directory(c);
  ASSERT_TRUE(d);
  auto mallory = d->authenticate("mallory", password_of("mallory"));
  ASSERT_TRUE(mallory) << mallory.error().message;
  EXPECT_EQ(mallory->groups,
            (std::vector<std::string>{"cn=pam-legacy-auditors,ou=groups,dc=example,dc=com"}));
  EXPECT_EQ(mallory->roles, (std::vector<std::string>{"auditor"}));
  auto members = d->group_members("cn=pam-legacy-auditors,ou=groups,dc=example,dc=com");
  ASSERT_TRUE(members) << members.error().message;
  EXPECT_EQ(*members, (std::vector<std::string>{"mallory"}));
}

TEST_F(LdapDirectoryTest, WrongPasswordAndUnknownUserGetTheSameRefusal) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  auto wrong = d->authenticate("alice", password_of("bob"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthenticated);
  auto unknown = d->authenticate("nobody", password_of("bob"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(wrong.error().message, unknown.error().message);
  EXPECT_EQ(wrong.error().message.find("bob-Pw"), std::string::npos);
}

TEST_F(LdapDirectoryTest, EmptyPasswordIsRefusedWithoutContactingTheDirectory) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  const fs::path log = env_["SLAPD_LOG"];
  const std::size_t accepts_before = testing::count_lines_containing(log, " ACCEPT ");
  const std::size_t binds_before = testing::count_lines_containing(log, " BIND ");
  // The harness's readiness probe binds anonymously once; count from here on.
  const std::size_t anonymous_before = testing::count_lines_containing(log, "BIND dn=\"\"");
  auto r = d->authenticate("alice", Secret());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(testing::count_lines_containing(log, " ACCEPT "), accepts_before);
  EXPECT_EQ(testing::count_lines_containing(log, " BIND "), binds_before);
  // The log does record our connections, so the counts above are meaningful.
  ASSERT_TRUE(d->authenticate("alice", password_of("alice")));
  EXPECT_GT(testing::count_lines_containing(log, " ACCEPT "), accepts_before);
  EXPECT_EQ(testing::count_lines_containing(log, "BIND dn=\"\""), anonymous_before);
}

TEST_F(LdapDirectoryTest, DepartedUserIsRefusedEvenWithTheRightPassword) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  auto right = d->authenticate("dave", password_of("dave"));
  ASSERT_FALSE(right);
  EXPECT_EQ(right.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(right.error().message.find("departed"), std::string::npos);
  // A wrong password learns nothing about the account.
  auto wrong = d->authenticate("dave", password_of("alice"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(LdapDirectoryTest, LockedUserIsRefused) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  auto r = d->authenticate("erin", password_of("erin"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(r.error().message.find("disabled"), std::string::npos);
}

TEST_F(LdapDirectoryTest, FilterInjectionMatchesNobody) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  for (const char* name : {"*)(uid=*", "*", "alice)(|(uid=*", "al*", "alice\\"}) {
    auto r = d->authenticate(name, password_of("alice"));
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated) << name;
    auto l = d->lookup(name);
    ASSERT_FALSE(l) << name;
    EXPECT_EQ(l.error().code, ErrorCode::kNotFound) << name;
  }
  for (const std::string& name :
       {std::string("ali\nce"), std::string("alice\0", 6), std::string(257, 'a'), std::string()}) {
    auto r = d->authenticate(name, password_of("alice"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST_F(LdapDirectoryTest, DirectoryDownIsUnavailableNotACrash) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  stop_slapd();
  auto r = d->authenticate("alice", password_of("alice"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message.rfind("directory " + env_["SLAPD_LDAPS_URL"] + " unavailable: ", 0),
            0u)
      << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  EXPECT_EQ(r.error().message.find("alice-Pw"), std::string::npos);
  auto l = d->lookup("alice");
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code, ErrorCode::kUnavailable);
  auto g = d->group_members("cn=pam-approvers,ou=groups,dc=example,dc=com");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, ErrorCode::kUnavailable);
}

TEST_F(LdapDirectoryTest, ClosedPortIsUnavailable) {
  LdapConfig c = config();
  c.url = "ldaps://127.0.0.1:1";  // nothing listens on tcpmux in a test machine
  auto d = directory(c);
  ASSERT_TRUE(d);
  auto r = d->authenticate("alice", password_of("alice"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message.rfind("directory ldaps://127.0.0.1:1 unavailable: ", 0), 0u)
      << r.error().message;
}

TEST_F(LdapDirectoryTest, SilentServerIsUnavailableAfterTheTimeout) {
  // A loopback listener that completes TCP handshakes (the kernel does) and never speaks.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  for (const bool start_tls : {false, true}) {
    LdapConfig c = config();
    c.url = std::string(start_tls ? "ldap" : "ldaps") +
            "://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    c.start_tls = start_tls;
    c.timeout = std::chrono::seconds(1);
    auto d = directory(c);
    ASSERT_TRUE(d);
    auto r = d->authenticate("alice", password_of("alice"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().message;
  }
  close(fd);
}

TEST_F(LdapDirectoryTest, PlainLdapIsRefusedUnlessAllowed) {
  LdapConfig c = config();
  c.url = env_["SLAPD_URL"];
  auto refused = LdapDirectory::create(c);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("refusing plain ldap://"), std::string::npos);

  c.allow_plaintext = true;
  auto d = directory(c);
  ASSERT_TRUE(d);
  auto r = d->authenticate("alice", password_of("alice"));
  ASSERT_TRUE(r) << r.error().message;
}

TEST_F(LdapDirectoryTest, CreateValidatesConfiguration) {
  LdapConfig c = config();
  c.url = "http://127.0.0.1";
  EXPECT_EQ(LdapDirectory::create(c).error().code, ErrorCode::kInvalidArgument);
  c = config();
  c.ca_file.clear();
  EXPECT_EQ(LdapDirectory::create(c).error().code, ErrorCode::kInvalidArgument);
  c = config();
  c.user_filter = "(uid=alice)";
  EXPECT_EQ(LdapDirectory::create(c).error().code, ErrorCode::kInvalidArgument);
  c = config();
  c.url = env_["SLAPD_LDAPS_URL"];
  c.start_tls = true;
  EXPECT_EQ(LdapDirectory::create(c).error().code, ErrorCode::kInvalidArgument);
  // The service account's password file must be private.
  c = config();
  const fs::path loose = dir_ / "loose.pw";
  fs::copy_file(c.bind_password_file, loose);
  ASSERT_EQ(chmod(loose.c_str(), 0644), 0);
  c.bind_password_file = loose;
  auto r = LdapDirectory::create(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("svc-Secret"), std::string::npos);
}

TEST_F(LdapDirectoryTest, StartTlsWorks) {
  LdapConfig c = config();
  c.url = env_["SLAPD_URL"];
  c.start_tls = true;
  auto d = directory(c);
  ASSERT_TRUE(d);
  auto r = d->authenticate("bob", password_of("bob"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->roles, (std::vector<std::string>{"approver", "requester"}));
}

TEST_F(LdapDirectoryTest, ServerCertificateFromAnotherCaIsRefused) {
  LdapConfig c = config();
  c.ca_file = env_["SLAPD_OTHER_CA"];
  auto d = directory(c);
  ASSERT_TRUE(d);
  auto r = d->authenticate("alice", password_of("alice"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);

  c.url = env_["SLAPD_URL"];
  c.start_tls = true;
  auto st = directory(c);
  ASSERT_TRUE(st);
  auto r2 = st->authenticate("alice", password_of("alice"));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r2.error().message.find("StartTLS"), std::string::npos) << r2.error().message;
}

TEST_F(LdapDirectoryTest, GroupMembersOfApprovers) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  auto m = d->group_members("cn=pam-approvers,ou=groups,dc=example,dc=com");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, (std::vector<std::string>{"bob", "carol"}));
  auto missing = d->group_members("cn=pam-nobody,ou=groups,dc=example,dc=com");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto bad = d->group_members("not a dn");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(LdapDirectoryTest, LookupReturnsDepartedAndDisabledStatus) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  auto dave = d->lookup("dave");
  ASSERT_TRUE(dave) << dave.error().message;
  EXPECT_EQ(dave->status, StaffStatus::kDeparted);
  EXPECT_EQ(dave->dn, "uid=dave,ou=departed,dc=example,dc=com");
  EXPECT_EQ(dave->roles, (std::vector<std::string>{"requester"}));
  auto erin = d->lookup("erin");
  ASSERT_TRUE(erin) << erin.error().message;
  EXPECT_EQ(erin->status, StaffStatus::kDisabled);
  auto alice = d->lookup("alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->status, StaffStatus::kActive);
  auto nobody = d->lookup("nobody");
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code, ErrorCode::kNotFound);
}

TEST_F(LdapDirectoryTest, ConcurrentLoginsFromSeveralThreads) {
  auto d = directory(config());
  ASSERT_TRUE(d);
  std::atomic<int> good{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        const bool right = (t + i) % 2 == 0;
        auto r = d->authenticate("bob", password_of(right ? "bob" : "carol"));
        if (right && r) ++good;
        if (!right && !r && r.error().code == ErrorCode::kUnauthenticated) ++refused;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 10);
  EXPECT_EQ(refused.load(), 10);
}

}  // namespace
}  // namespace sekisho::ldap
