// AD's unicodePwd value (the quoted password as UTF-16LE, from strict UTF-8 only), and what a
// directory's answer to a change means, including Windows AD diagnostics Samba cannot produce.
#include "ldap/password_rotation.hpp"

#include <gtest/gtest.h>
#include <ldap.h>

#include <string>
#include <vector>

namespace sekisho::ldap {
namespace {

std::vector<std::uint8_t> bytes_of(const Secret& s) { return {s.data(), s.data() + s.size()}; }

TEST(AdUnicodePwdTest, AsciiIsQuotedUtf16Le) {
  auto v = ad_unicode_pwd(Secret::copy_of(std::string_view("Ab1")));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(bytes_of(*v), (std::vector<std::uint8_t>{'"', 0, 'A', 0, 'b', 0, '1', 0, '"', 0}));
}

TEST(AdUnicodePwdTest, MultiByteAndAstralCharactersBecomeUtf16) {
  // é (U+00E9), € (U+20AC), 😀 (U+1F600 → surrogates D83D DE00).
  auto v =
      ad_unicode_pwd(Secret::copy_of(std::string_view("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(bytes_of(*v), (std::vector<std::uint8_t>{'"', 0, 0xe9, 0x00, 0xac, 0x20, 0x3d, 0xd8,
                                                     0x00, 0xde, '"', 0}));
}

TEST(AdUnicodePwdTest, InvalidUtf8IsRefused) {
  for (const std::string& bad :
       {std::string("\xc3"), std::string("\xc0\xaf"),  // truncated, overlong
        std::string("\xed\xa0\x80"),                   // a surrogate
        std::string("\xf4\x90\x80\x80"),               // past U+10FFFF
        std::string("\xff"), std::string("a\x80")}) {
    auto v = ad_unicode_pwd(Secret::copy_of(std::string_view(bad)));
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(v.error().message.find(bad), std::string::npos);  // the bytes are not echoed
  }
}

TEST(AdUnicodePwdTest, EmptyPasswordIsJustTheQuotes) {
  auto v = ad_unicode_pwd(Secret());
  ASSERT_TRUE(v);
  EXPECT_EQ(bytes_of(*v), (std::vector<std::uint8_t>{'"', 0, '"', 0}));
}

using detail::change_answer;
using rotation::ChangeOutcome;
constexpr char kUrl[] = "ldaps://127.0.0.1:636";
constexpr char kDn[] = "CN=svc-backup,CN=Users,DC=corp,DC=example";
constexpr auto kAd = DirectoryFlavour::kActiveDirectory;
constexpr auto kOpenLdap = DirectoryFlavour::kOpenLdap;

TEST(ChangeAnswerTest, SuccessIsChangedAndABrokenConnectionIsUnknown) {
  EXPECT_EQ(change_answer(kAd, kUrl, LDAP_SUCCESS, "", false, kDn).outcome,
            ChangeOutcome::kChanged);
  for (const int rc : {LDAP_SERVER_DOWN, LDAP_TIMEOUT, LDAP_LOCAL_ERROR}) {
    auto r = change_answer(kOpenLdap, kUrl, rc, "", false, kDn);
    EXPECT_EQ(r.outcome, ChangeOutcome::kUnknown) << rc;
    EXPECT_NE(r.message.find("broke while the change ran"), std::string::npos) << r.message;
  }
}

TEST(ChangeAnswerTest, AdPolicyErrorIsPasswordRejectedInCleanWords) {
  // Windows: only internal codes after 0000052D; they are left out.
  auto windows = change_answer(
      kAd, kUrl, LDAP_CONSTRAINT_VIOLATION,
      "0000052D: SvcErr: DSID-03191083, problem 5003 (WILL_NOT_PERFORM), data 0", false, kDn);
  EXPECT_EQ(windows.outcome, ChangeOutcome::kPasswordRejected);
  EXPECT_EQ(windows.message,
            "the domain's password policy refused the new password (length, complexity, history "
            "or age)");
  // Samba says which rule.
  auto samba = change_answer(kAd, kUrl, LDAP_CONSTRAINT_VIOLATION,
                             "0000052D: Constraint violation - check_password_restrictions: the "
                             "password is too short. It should be equal or longer than 12 "
                             "characters!",
                             true, kDn);
  EXPECT_EQ(samba.outcome, ChangeOutcome::kPasswordRejected);
  EXPECT_EQ(samba.message,
            "the domain's password policy refused the new password: check_password_restrictions: "
            "the password is too short. It should be equal or longer than 12 characters!");
  // Windows may also answer a policy refusal with unwillingToPerform.
  auto unwilling = change_answer(kAd, kUrl, LDAP_UNWILLING_TO_PERFORM,
                                 "0000052D: SvcErr: DSID-031A12D2, problem 5003", false, kDn);
  EXPECT_EQ(unwilling.outcome, ChangeOutcome::kPasswordRejected);
}

TEST(ChangeAnswerTest, AdWrongOldPasswordIsRefusedOld) {
  auto r = change_answer(kAd, kUrl, LDAP_CONSTRAINT_VIOLATION,
                         "00000056: AtrErr: DSID-03190F80, #1: 0: 00000056: DSID-03190F80, "
                         "problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)",
                         false, kDn);
  EXPECT_EQ(r.outcome, ChangeOutcome::kRefusedOld);
}

TEST(ChangeAnswerTest, MissingRightRefusesAResetAndRejectsAChange) {
  auto reset = change_answer(kOpenLdap, kUrl, LDAP_INSUFFICIENT_ACCESS, "", true, kDn);
  EXPECT_EQ(reset.outcome, ChangeOutcome::kRefusedOld);
  EXPECT_NE(reset.message.find("reconcile account may not reset"), std::string::npos);
  // A change the directory does not allow the account itself: it kept the old password, and the
  // old one still logs in, so it is not "refused old" (which would send the engine to a reset).
  auto change = change_answer(kOpenLdap, kUrl, LDAP_INSUFFICIENT_ACCESS, "", false, kDn);
  EXPECT_EQ(change.outcome, ChangeOutcome::kPasswordRejected);
}

TEST(ChangeAnswerTest, PpolicyRefusalQuotesTheServerOnOneLine) {
  auto r = change_answer(kOpenLdap, kUrl, LDAP_CONSTRAINT_VIOLATION,
                         "Password fails quality checking policy", false, kDn);
  EXPECT_EQ(r.outcome, ChangeOutcome::kPasswordRejected);
  EXPECT_EQ(r.message,
            "the directory's password policy refused the new password: Password fails quality "
            "checking policy");
  auto other = change_answer(kOpenLdap, kUrl, LDAP_UNWILLING_TO_PERFORM, "", false, kDn);
  EXPECT_EQ(other.outcome, ChangeOutcome::kPasswordRejected);
  EXPECT_NE(other.message.find("Server is unwilling to perform"), std::string::npos);
}

// Refusals that come before any connection: a port nobody listens on would otherwise answer
// kUnreachable, so these outcomes prove nothing was attempted.
class ConnectorWithoutServerTest : public ::testing::Test {
 protected:
  DirectoryRotationConnector connector(std::string url, bool start_tls, std::string ca) {
    return DirectoryRotationConnector([=](const rotation::Target& t) -> Result<DirectoryAccount> {
      if (t.host != "corp") return fail(ErrorCode::kNotFound, "no directory " + t.host);
      DirectoryAccount a;
      a.url = url;
      a.start_tls = start_tls;
      a.ca_file = ca;
      a.dn_template = "uid={account},ou=services,dc=example,dc=com";
      return a;
    });
  }
  const rotation::Target target_{"corp", "svc-backup", "password"};
  const Secret old_ = Secret::copy_of(std::string_view("old-Pw-0123456789"));
  const Secret next_ = Secret::copy_of(std::string_view("new-Pw-0123456789"));
};

TEST_F(ConnectorWithoutServerTest, PlainLdapIsRefusedBeforeAnyPasswordIsSent) {
  auto c = connector("ldap://127.0.0.1:1", false, "/nonexistent-ca.pem");
  auto r = c.change(target_, old_, next_);
  EXPECT_EQ(r.outcome, rotation::ChangeOutcome::kUnreachable);
  EXPECT_NE(r.message.find("must be ldaps://"), std::string::npos) << r.message;
  EXPECT_EQ(c.try_login(target_, old_).outcome, rotation::LoginOutcome::kUnreachable);
  auto no_ca = connector("ldaps://127.0.0.1:1", false, "");
  EXPECT_NE(no_ca.change(target_, old_, next_).message.find("no CA file"), std::string::npos);
}

TEST_F(ConnectorWithoutServerTest, EmptySecretAndMissingReconcileAccountNeverConnect) {
  auto c = connector("ldaps://127.0.0.1:1", false, "/nonexistent-ca.pem");
  // An empty simple bind would be an anonymous bind that "succeeds".
  EXPECT_EQ(c.try_login(target_, Secret()).outcome, rotation::LoginOutcome::kRefused);
  EXPECT_EQ(c.change(target_, Secret(), next_).outcome, rotation::ChangeOutcome::kRefusedOld);
  auto reset = c.reset(target_, next_);
  EXPECT_EQ(reset.outcome, rotation::ChangeOutcome::kRefusedOld);
  EXPECT_NE(reset.message.find("no reconcile account"), std::string::npos) << reset.message;
  // And the port really is closed: a real attempt is kUnreachable.
  EXPECT_EQ(c.try_login(target_, old_).outcome, rotation::LoginOutcome::kUnreachable);
}

TEST_F(ConnectorWithoutServerTest, UnknownDirectoryOrMalformedNameIsNotSent) {
  auto c = connector("ldaps://127.0.0.1:1", false, "/nonexistent-ca.pem");
  auto r = c.change({"elsewhere", "svc-backup", "password"}, old_, next_);
  EXPECT_EQ(r.outcome, rotation::ChangeOutcome::kUnreachable);
  EXPECT_NE(r.message.find("no directory elsewhere"), std::string::npos);
  auto bad = c.change({"corp", "svc\nbackup", "password"}, old_, next_);
  EXPECT_EQ(bad.outcome, rotation::ChangeOutcome::kRefusedOld);
  EXPECT_EQ(bad.message, "malformed account name");
}

}  // namespace
}  // namespace sekisho::ldap
