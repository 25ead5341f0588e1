// Key logins through the core with TOTP: the core, not the worker, decides when a key is enough.
#include "tests/unit/broker/ssh/monitor_fixture.hpp"

namespace sekisho::broker {
namespace {

using nlohmann::json;

// Key logins with the gateway's real login service (local directory, TOTP replay guard): a user
// with TOTP enrolled gives a code after the key, as OpenSSH's `AuthenticationMethods
// publickey,keyboard-interactive`; a role that requires TOTP without one enrolled is refused.
struct KeyTotpFixture : SessionFixture {
  ldap::LocalDirectory directory{*t->store};
  AuthConfig config = [] {
    AuthConfig c;
    c.require_totp_for = {"auditor"};
    return c;
  }();
  AuthService auth{*t->store, *t->log, directory, config, t->clock};
  Secret totp = ldap::generate_totp_secret();
  static constexpr char kNow[] = "2026-01-01T00:00:00.000Z";

  void SetUp() override {
    ctx.auth = &auth;  // before the monitor thread starts
    SessionFixture::SetUp();
    ASSERT_TRUE(t->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto rita = storage::create_user(tx, {"rita", "x", {"auditor"}, false, kNow});
      if (!rita) return tl::make_unexpected(rita.error());
      return storage::add_user_key(
          tx, *rita, {ssh::parse_ssh_public_key(kRitaKey)->fingerprint, kRitaKey, "", kNow});
    }));
  }
  void enrol_alice() {
    ASSERT_TRUE(t->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto alice = storage::find_user(tx, "alice");
      if (auto e = storage::set_totp_pending(tx, (*alice)->id, totp); !e) return e;
      return storage::confirm_totp(tx, (*alice)->id);
    }));
  }
  // The code of the test clock's current step.
  std::string code() {
    char out[8] = {};
    oath_init();
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(t->clock.now().time_since_epoch());
    EXPECT_EQ(oath_totp_generate(reinterpret_cast<const char*>(totp.data()), totp.size(),
                                 now.count(), 30, 0, 6, out),
              OATH_OK);
    return out;
  }
  std::string last_details() {
    std::string details;
    EXPECT_TRUE(t->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto q = tx.prepare("SELECT details FROM audit_events ORDER BY seq DESC LIMIT 1");
      if (!q) return tl::make_unexpected(q.error());
      if (auto row = q->step(); row && *row) details = q->column_text(0);
      return ok();
    }));
    return details;
  }
};

TEST_F(KeyTotpFixture, AUserWithoutTotpLogsInWithTheKeyAlone) {
  auto reply = ask(login());
  ASSERT_TRUE(reply);
  EXPECT_TRUE(reply->body.value("ok", false));
  EXPECT_FALSE(reply->body.contains("totp"));
  auto grant = ask({{"type", "authorize"}});
  EXPECT_TRUE(grant && grant->body.value("ok", false));
}

TEST_F(KeyTotpFixture, AnEnrolledUsersSignedKeyIsNotALogin) {
  enrol_alice();
  json probe = login();
  probe["signed"] = false;
  auto acceptable = ask(probe);  // the probe only says the key is acceptable
  ASSERT_TRUE(acceptable && acceptable->body.value("ok", false));
  auto reply = ask(login());
  ASSERT_TRUE(reply);
  EXPECT_FALSE(reply->body.value("ok", true));
  EXPECT_TRUE(reply->body.value("totp", false));
  // Whatever the worker claims next, the core is not at kAuthenticated without the code.
  expect_violation({{"type", "authorize"}});
}

TEST_F(KeyTotpFixture, TheRightCodeAfterTheKeyFinishesTheLogin) {
  enrol_alice();
  auto reply = ask(login());
  ASSERT_TRUE(reply && reply->body.value("totp", false));
  auto done = ask({{"type", "auth_totp"}, {"code", code()}});
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->body.value("ok", false)) << done->body.dump();
  EXPECT_EQ(done->body.value("user", ""), "alice");
  EXPECT_EQ(last_action(), "ssh.login");
  const json details = json::parse(last_details());
  EXPECT_EQ(details.value("result", ""), "success");
  EXPECT_EQ(details.value("method", ""), "publickey");
  EXPECT_TRUE(details.value("totp", false));
  auto grant = ask({{"type", "authorize"}});
  EXPECT_TRUE(grant && grant->body.value("ok", false));
}

TEST_F(KeyTotpFixture, AWrongCodeIsRefusedAsOnThePasswordPathAndTheKeyStaysProven) {
  enrol_alice();
  ASSERT_TRUE(ask(login()));
  const std::string good = code();
  auto wrong = ask({{"type", "auth_totp"}, {"code", good == "000000" ? "111111" : "000000"}});
  ASSERT_TRUE(wrong);
  EXPECT_FALSE(wrong->body.value("ok", true));
  EXPECT_EQ(wrong->body.value("message", ""), "wrong TOTP code");
  EXPECT_FALSE(wrong->body.value("final", true));  // typed again in the next round
  const json details = json::parse(last_details());
  EXPECT_EQ(last_action(), "ssh.login");
  EXPECT_EQ(details.value("reason", ""), "totp_wrong");
  EXPECT_EQ(details.value("method", ""), "keyboard-interactive");
  auto right = ask({{"type", "auth_totp"}, {"code", good}});
  ASSERT_TRUE(right);
  EXPECT_TRUE(right->body.value("ok", false)) << right->body.dump();
}

TEST_F(KeyTotpFixture, ARoleThatRequiresTotpWithoutOneEnrolledIsRefused) {
  auto reply =
      ask({{"type", "auth_pubkey"}, {"target", "root@web01"}, {"key", kRitaKey}, {"signed", true}});
  ASSERT_TRUE(reply);
  EXPECT_FALSE(reply->body.value("ok", true));
  EXPECT_TRUE(reply->body.value("final", false));
  EXPECT_EQ(reply->body.value("message", ""),
            "your role requires TOTP: enrol first with: sekisho login --user rita; sekisho totp "
            "enroll");
  EXPECT_EQ(last_action(), "ssh.login");
  EXPECT_EQ(json::parse(last_details()).value("reason", ""), "totp_enrollment_required");
  expect_violation({{"type", "auth_totp"}, {"code", "123456"}});
}

}  // namespace
}  // namespace sekisho::broker
