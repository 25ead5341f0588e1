#include "ssh/rotation_job.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sekisho::ssh {
namespace {

using nlohmann::json;

RotationJob change_job() {
  RotationJob job;
  job.kind = RotationJobKind::kChangePassword;
  job.address = "127.0.0.1";
  job.port = 2222;
  job.timeout_seconds = 10;
  job.pinned_host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey";
  job.login = "ops";
  job.login_kind = CredentialKind::kPrivateKey;
  job.account = "root";
  job.sudo = true;
  return job;
}

TEST(RotationJob, HelloRoundTripsAndCarriesNoSecretField) {
  auto hello = rotation_hello(change_job());
  ASSERT_TRUE(hello) << hello.error().message;
  EXPECT_EQ((*hello)["job"], "change_password");
  EXPECT_FALSE(hello->contains("secret"));
  EXPECT_FALSE(hello->contains("new_password"));
  auto back = rotation_job_from_hello(*hello);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->kind, RotationJobKind::kChangePassword);
  EXPECT_EQ(back->address, "127.0.0.1");
  EXPECT_EQ(back->port, 2222u);
  EXPECT_EQ(back->timeout_seconds, 10);
  EXPECT_EQ(back->login, "ops");
  EXPECT_EQ(back->login_kind, CredentialKind::kPrivateKey);
  EXPECT_EQ(back->account, "root");
  EXPECT_TRUE(back->sudo);
  EXPECT_STREQ(chpasswd_command(*back), "sudo -n chpasswd");
  back->sudo = false;
  EXPECT_STREQ(chpasswd_command(*back), "chpasswd");
}

TEST(RotationJob, TryLoginChecksTheLoginOrAnAccountThroughSu) {
  RotationJob job = change_job();
  job.kind = RotationJobKind::kTryLogin;
  auto through_su = rotation_hello(job);
  ASSERT_TRUE(through_su);
  EXPECT_EQ((*through_su)["account"], "root");
  auto su = rotation_job_from_hello(*through_su);
  ASSERT_TRUE(su);
  EXPECT_EQ(su->account, "root");
  EXPECT_EQ(su_command(*su), "su -c true root");
  job.account = "-c";  // su would take it for an option
  EXPECT_FALSE(rotation_hello(job));
  job.account.clear();
  auto hello = rotation_hello(job);
  ASSERT_TRUE(hello);
  EXPECT_EQ((*hello)["job"], "try_login");
  EXPECT_FALSE(hello->contains("sudo"));
  EXPECT_FALSE(hello->contains("account"));
  auto back = rotation_job_from_hello(*hello);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, RotationJobKind::kTryLogin);
}

TEST(RotationJob, NamesAreCheckedBeforeTheyGoAnywhere) {
  for (const std::string bad : {"root:x", "a b", "root\nalice", "", "x;reboot", "a$(id)"}) {
    RotationJob job = change_job();
    job.account = bad;
    EXPECT_FALSE(rotation_hello(job)) << "account " << bad;
    job = change_job();
    job.login = bad;
    EXPECT_FALSE(rotation_hello(job)) << "login " << bad;
    // A hello written by hand with the bad name is refused by the worker's reading too.
    json hello = *rotation_hello(change_job());
    hello["account"] = bad;
    EXPECT_FALSE(rotation_job_from_hello(hello)) << "account " << bad;
  }
}

TEST(RotationJob, MalformedHellosAreRefused) {
  const json good = *rotation_hello(change_job());
  const auto without = [&](const char* field) {
    json h = good;
    h.erase(field);
    return h;
  };
  const auto with = [&](const char* field, json value) {
    json h = good;
    h[field] = std::move(value);
    return h;
  };
  for (const json& h :
       {without("job"), without("login_kind"), without("port"), without("timeout_seconds"),
        without("host_key"), without("address"), without("sudo"), with("job", "session"),
        with("job", 3), with("login_kind", "token"), with("port", 0), with("port", 70000),
        with("port", -1), with("timeout_seconds", 0), with("timeout_seconds", 601),
        with("sudo", "yes"), with("address", std::string(254, 'a'))}) {
    EXPECT_FALSE(rotation_job_from_hello(h)) << h.dump();
  }
}

TEST(RotationJob, ResultsAreCheckedAgainstTheJob) {
  using V = RotationVerdict;
  const auto change = RotationJobKind::kChangePassword;
  const auto login = RotationJobKind::kTryLogin;
  for (V v : {V::kChanged, V::kRejected, V::kUnknown, V::kRefused, V::kUnreachable}) {
    auto r = rotation_result_from(rotation_result_message(v, "why"), change);
    ASSERT_TRUE(r) << to_string(v);
    EXPECT_EQ(r->verdict, v);
    EXPECT_EQ(r->message, "why");
  }
  for (V v : {V::kAccepted, V::kRefused, V::kUnreachable}) {
    auto r = rotation_result_from(rotation_result_message(v, ""), login);
    ASSERT_TRUE(r) << to_string(v);
    EXPECT_EQ(r->verdict, v);
  }
  // A verdict the job cannot give, an unknown one, another type: garbage.
  EXPECT_FALSE(rotation_result_from(rotation_result_message(V::kAccepted, ""), change));
  EXPECT_FALSE(rotation_result_from(rotation_result_message(V::kChanged, ""), login));
  EXPECT_FALSE(rotation_result_from({{"type", "result"}, {"verdict", "done"}}, change));
  EXPECT_FALSE(rotation_result_from({{"type", "result"}, {"verdict", 1}}, change));
  EXPECT_FALSE(rotation_result_from({{"type", "host_key"}, {"verdict", "changed"}}, change));
  EXPECT_FALSE(rotation_result_from(json::object(), login));
}

TEST(RotationJob, TheWorkersMessageIsOneBoundedLineAtTheCore) {
  json body = {{"type", "result"},
               {"verdict", "rejected"},
               {"message", "BAD PASSWORD:\x1b[31m too short\r\n\n chpasswd:  (line 1)\t failed  "}};
  auto r = rotation_result_from(body, RotationJobKind::kChangePassword);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "BAD PASSWORD: [31m too short chpasswd: (line 1) failed");
  body["message"] = std::string(5000, 'x');
  r = rotation_result_from(body, RotationJobKind::kChangePassword);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message.size(), kMaxRotationMessage);
  body["message"] = 42;  // not text: no message rather than a refusal of the verdict
  r = rotation_result_from(body, RotationJobKind::kChangePassword);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "");
}

TEST(RotationJob, OneLine) {
  EXPECT_EQ(one_line("", 10), "");
  EXPECT_EQ(one_line("  \n\t ", 10), "");
  EXPECT_EQ(one_line("a\nb", 10), "a b");
  EXPECT_EQ(one_line("abcdefghijkl", 5), "abcde");
  EXPECT_EQ(one_line("abcd  efgh", 5), "abcd");
  EXPECT_EQ(one_line("x\x7fy", 10), "x y");
  EXPECT_EQ(one_line("caf\xc3\xa9", 10), "caf\xc3\xa9");  // UTF-8 passes
}

TEST(RotationJob, RedactReplacesEveryCopyOfTheSecret) {
  EXPECT_EQ(redact("pw=s3cr3t and s3cr3ts3cr3t!", "s3cr3t"), "pw=[secret] and [secret][secret]!");
  EXPECT_EQ(redact("nothing here", "s3cr3t"), "nothing here");
  EXPECT_EQ(redact("text", ""), "text");
  EXPECT_EQ(redact("[secret]", "secret"), "[[secret]]");  // terminates on its own mark
}

TEST(RotationJob, ChpasswdTakesAnyPasswordButLineBreaksAndNul) {
  EXPECT_TRUE(check_chpasswd_password("Tr0ub4dor&3:with:colons"));
  EXPECT_FALSE(check_chpasswd_password(""));
  const std::string nul("Qz\0x9", 5);
  for (const std::string& bad : {std::string("Qz\nx9"), std::string("Qz\rx9"), nul}) {
    auto r = check_chpasswd_password(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.find("Qz"), std::string::npos) << "the password in the error";
  }
}

}  // namespace
}  // namespace sekisho::ssh
