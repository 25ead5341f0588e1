#include "broker/daemon/config.hpp"

#include <gtest/gtest.h>

namespace sekisho::broker {
namespace {

void expect_error(const std::string& toml, const std::string& needle) {
  auto r = parse_config(toml, "test.toml");
  ASSERT_FALSE(r) << toml;
  EXPECT_EQ(r.error().message.rfind("test.toml: ", 0), 0u) << r.error().message;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
}

TEST(Config, EmptyFileGivesEmbeddedDefaults) {
  auto c = parse_config("", "test.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->api.text(), "127.0.0.1:8443");
  EXPECT_EQ(c->ssh.text(), "0.0.0.0:2222");
  EXPECT_EQ(c->rdp.text(), "0.0.0.0:3389");
  EXPECT_EQ(c->directory_kind, "local");
  EXPECT_EQ(c->log_format, LogFormat::kText);
  EXPECT_EQ(c->audit_checkpoint_interval, std::chrono::seconds(300));
}

TEST(Config, ReadsEverySupportedKey) {
  auto c = parse_config(R"(
[api]
listen = "[::1]:9443"
max_body_bytes = 65536
max_connections_per_source = 4
handshake_timeout = "2s"
[ssh]
listen = "127.0.0.1:0"
recording_queue_bytes = 2097152
[directory]
kind = "local"
[log]
format = "json"
level = "debug"
[audit]
checkpoint_interval = "30s"
[roles]
approver = ["cn=pam-approvers,ou=groups,dc=example,dc=com"]
[[policy]]
name = "web"
hosts = ["web*", "group:dmz"]
requesters = ["role:requester", "group:cn=admins,ou=groups,dc=example,dc=com"]
approvers = ["role:approver"]
approvals = 2
max_duration = "4h"
modes = ["session"]
require_ticket = true
allow_upload = false
[[policy]]
name = "rest"
hosts = ["*"]
requesters = ["role:requester"]
approvers = ["user:carol"]
[break_glass]
members = ["group:cn=oncall,ou=groups,dc=example,dc=com"]
review_within = "2h"
[[notify.webhook]]
url = "https://chat.example.com/hooks/T0/B0/secret"
)",
                        "test.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->api.host, "::1");
  EXPECT_EQ(c->api.port, 9443);
  EXPECT_EQ(c->api.text(), "[::1]:9443");
  EXPECT_EQ(c->api_max_body_bytes, 65536u);
  EXPECT_EQ(c->api_max_connections_per_source, 4u);
  EXPECT_EQ(c->api_handshake_timeout, std::chrono::seconds(2));
  EXPECT_EQ(c->ssh.port, 0);
  EXPECT_EQ(c->ssh_limits.recording_queue_bytes, 2097152u);
  EXPECT_EQ(c->log_format, LogFormat::kJson);
  EXPECT_EQ(c->log_level, spdlog::level::debug);
  EXPECT_EQ(c->audit_checkpoint_interval, std::chrono::seconds(30));
  ASSERT_EQ(c->policy.rules.size(), 2u);
  const auto& web = c->policy.rules[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.hosts, (std::vector<std::string>{"web*", "group:dmz"}));
  EXPECT_EQ(web.requesters.size(), 2u);
  EXPECT_EQ(web.approvals, 2);
  EXPECT_EQ(web.max_duration, std::chrono::hours(4));
  EXPECT_EQ(web.modes, (std::vector<approval::Mode>{approval::Mode::kSession}));
  EXPECT_TRUE(web.require_ticket);
  EXPECT_FALSE(web.allow_upload);
  EXPECT_TRUE(web.allow_download);
  EXPECT_TRUE(c->policy.rules[1].allow_upload);
  EXPECT_EQ(c->policy.rules[1].approvals, 1);
  EXPECT_EQ(c->policy.rule_for({"db01", ""})->name, "rest");
  EXPECT_EQ(c->policy.rule_for({"gw", "dmz"})->name, "web");
  EXPECT_EQ(c->policy.break_glass_members.size(), 1u);
  EXPECT_EQ(c->policy.break_glass_review_within, std::chrono::hours(2));
  ASSERT_EQ(c->webhooks.size(), 1u);
  EXPECT_EQ(c->webhooks[0].url, "https://chat.example.com/hooks/T0/B0/secret");
  EXPECT_EQ(c->ldap.role_groups.at("approver"),
            (std::vector<std::string>{"cn=pam-approvers,ou=groups,dc=example,dc=com"}));
}

TEST(Config, ErrorsNameFileKeyAndReason) {
  expect_error("[api]\nlisten = 8443\n", "api.listen: must be a string");
  expect_error("[api]\nlisten = \"nohostport\"\n", "api.listen: expected");
  expect_error("[api]\nlisten = \"127.0.0.1:70000\"\n", "api.listen");
  expect_error("[api]\nlisen = \"127.0.0.1:1\"\n", "api.lisen: unknown key");
  expect_error("[apii]\n", "apii: unknown section");
  expect_error("[ssh]\nport = 22\n", "ssh.port: unknown key");
  expect_error("[log]\nformat = \"xml\"\n", "log.format");
  expect_error("[log]\nlevel = \"loud\"\n", "log.level");
  expect_error("[audit]\ncheckpoint_interval = \"often\"\n", "audit.checkpoint_interval");
  const std::string rule =
      "[[policy]]\nname = \"p\"\nhosts = [\"*\"]\nrequesters = [\"role:requester\"]\n"
      "approvers = [\"role:approver\"]\n";
  expect_error("[[policy]]\nname = \"p\"\n", "policy[0].hosts: required");
  expect_error(rule + "approvals = 0\n", "policy[0].approvals: must be an integer from 1 to 16");
  expect_error(rule + "max_duration = \"forever\"\n", "policy[0].max_duration: not a duration");
  expect_error(rule + "modes = [\"shell\"]\n", "policy[0].modes: mode must be session or checkout");
  expect_error(rule + "approver = [\"role:approver\"]\n", "policy[0].approver: unknown key");
  expect_error(rule + "require_ticket = \"yes\"\n",
               "policy[0].require_ticket: must be true or false");
  expect_error(rule + "allow_download = 0\n", "policy[0].allow_download: must be true or false");
  expect_error(rule + rule, "policy: policy[1] (p).name: used by an earlier policy");
  expect_error(
      "[[policy]]\nname = \"p\"\nhosts = [\"*\"]\nrequesters = [\"role:admin\"]\n"
      "approvers = [\"role:approver\"]\n",
      "policy[0].requesters: unknown role 'admin'");
  expect_error("[break_glass]\nmembers = [\"oncall\"]\n", "break_glass.members: 'oncall' is not");
  expect_error("[break_glass]\nreview = \"1h\"\n", "break_glass.review: unknown key");
  expect_error("[directory]\nkind = \"ldap\"\n", "directory.url: required");
  expect_error(
      "[directory]\nkind = \"ldap\"\nurl = \"ldaps://x\"\nuser_base = \"o=x\"\n"
      "user_filter = \"(uid=*)\"\n",
      "directory.user_filter: must contain {user}");
  expect_error("[roles]\napprover = \"cn=x\"\n", "roles.approver: must be a list");
  expect_error("[roles]\nboss = [\"cn=x\"]\n", "roles.boss: unknown key");
  expect_error("[auth]\nmax_failures = 0\n", "auth.max_failures");
  expect_error("[auth]\ntoken_ttl = \"forever\"\n", "auth.token_ttl");
  expect_error("[directory]\nkind = \"nis\"\n", "directory.kind");
  expect_error("[api]\nmax_body_bytes = 1\n", "api.max_body_bytes");
  expect_error("[api]\nmax_connections_per_source = 0\n",
               "api.max_connections_per_source: must be an integer from 1 to 10000");
  expect_error("[api]\nhandshake_timeout = \"10m\"\n",
               "api.handshake_timeout: must be a duration from 1s to 300s");
  expect_error("[ssh]\nrecording_queue_bytes = 65536\n",
               "ssh.recording_queue_bytes: must be an integer from 1048576 to 1073741824");
  expect_error("[api\nlisten = \"x\"\n", "test.toml");  // TOML syntax error, still one line
}

TEST(Config, ReadsLdapDirectoryAndAuth) {
  auto c = parse_config(R"toml(
[directory]
kind = "ldap"
url = "ldaps://127.0.0.1:6361"
ca_file = "/etc/ssl/ca.pem"
bind_dn = "cn=sekisho-svc,dc=example,dc=com"
bind_password_file = "/etc/sekisho/ldap.pw"
user_base = "ou=people,dc=example,dc=com"
group_base = "ou=groups,dc=example,dc=com"
departed_filter = "(employeeType=departed)"
timeout = "3s"
[auth]
token_ttl = "1h"
max_failures = 3
failure_window = "5m"
lockout = "10m"
require_totp_for = ["operator"]
)toml",
                        "test.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->directory_kind, "ldap");
  EXPECT_EQ(c->ldap.url, "ldaps://127.0.0.1:6361");
  EXPECT_EQ(c->ldap.bind_password_file, "/etc/sekisho/ldap.pw");
  EXPECT_EQ(c->ldap.timeout, std::chrono::seconds(3));
  EXPECT_EQ(c->auth.token_ttl, std::chrono::seconds(3600));
  EXPECT_EQ(c->auth.throttle.max_failures, 3);
  EXPECT_EQ(c->auth.throttle.lockout, std::chrono::seconds(600));
  EXPECT_EQ(c->auth.require_totp_for, (std::vector<std::string>{"operator"}));
}

TEST(Config, ReadsTheSshLoginLimits) {
  auto d = parse_config("", "test.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->ssh_limits.per_source_max_startups, 10u);
  EXPECT_EQ(d->ssh_limits.login_grace_time, std::chrono::seconds(30));
  auto c =
      parse_config("[ssh]\nper_source_max_startups = 3\nlogin_grace_time = \"2s\"\n", "test.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ssh_limits.per_source_max_startups, 3u);
  EXPECT_EQ(c->ssh_limits.login_grace_time, std::chrono::seconds(2));
  expect_error("[ssh]\nper_source_max_startups = 0\n",
               "ssh.per_source_max_startups: must be an integer from 1 to 100000");
  expect_error("[ssh]\nlogin_grace_time = \"11m\"\n",
               "ssh.login_grace_time: must be from 1s to 10m");
}

TEST(Config, ReadsTheRecordingsDiskKeys) {
  auto d = parse_config("", "test.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->recordings.max_total_bytes, 0u);  // no cap
  EXPECT_EQ(d->recordings.min_free_bytes, 256u * 1024 * 1024);
  EXPECT_EQ(d->recordings.keep, std::chrono::seconds(0));  // kept forever
  auto c = parse_config(
      "[recordings]\nmax_total_bytes = 1099511627776\nmin_free_bytes = 0\nkeep = \"400d\"\n",
      "test.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->recordings.max_total_bytes, 1099511627776u);
  EXPECT_EQ(c->recordings.min_free_bytes, 0u);
  EXPECT_EQ(c->recordings.keep, std::chrono::hours(400 * 24));
  expect_error("[recordings]\nmax_total_bytes = -1\n",
               "test.toml: recordings.max_total_bytes: must be an integer from 0 (none) to");
  expect_error("[recordings]\nmin_free_bytes = \"1G\"\n",
               "recordings.min_free_bytes: must be an integer");
  expect_error("[recordings]\nkeep = \"forever\"\n", "recordings.keep: ");
  expect_error("[recordings]\nkeep = 400\n", "recordings.keep: must be a string");
  expect_error("[recordings]\nmax_file_bytes = 1\n", "recordings.max_file_bytes: unknown key");
}

TEST(Config, LoadReportsMissingFile) {
  auto r = load_config("/nonexistent/sekisho.toml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent/sekisho.toml"), std::string::npos);
}

TEST(SshLimitsConfig, DefaultsAndKeys) {
  auto d = parse_config("", "c.toml");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->ssh_limits.max_sessions, 500u);
  EXPECT_EQ(d->ssh_limits.max_startups, 50u);
  auto c = parse_config("[ssh]\nlisten = \"127.0.0.1:0\"\nmax_sessions = 2\nmax_startups = 7\n",
                        "c.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ssh_limits.max_sessions, 2u);
  EXPECT_EQ(c->ssh_limits.max_startups, 7u);
  EXPECT_EQ(c->ssh.port, 0);
  for (const char* bad : {"[ssh]\nmax_sessions = 0\n", "[ssh]\nmax_startups = \"5\"\n",
                          "[ssh]\nmax_sessions = 100001\n"}) {
    auto r = parse_config(bad, "c.toml");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("must be an integer from 1 to 100000"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  }
}

TEST(WorkerUserConfig, DefaultsToNobodyAndReadsWorkerUser) {
  auto c = parse_config("", "test.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ssh_limits.worker_user, "nobody");
  EXPECT_EQ(c->ssh.text(), "0.0.0.0:2222");
  c = parse_config("[ssh]\nlisten = \"127.0.0.1:0\"\nworker_user = \"sekisho-w\"\n", "test.toml");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ssh_limits.worker_user, "sekisho-w");
  auto bad = parse_config("[ssh]\nworker_user = \"\"\n", "test.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("ssh.worker_user: must be 1 to 64"), std::string::npos)
      << bad.error().message;
}

}  // namespace
}  // namespace sekisho::broker
