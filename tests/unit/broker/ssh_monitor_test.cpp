// The core's side of the worker conversation, driven over a real socketpair by a scripted
// "worker": requests out of order end the conversation and are audited; unknown keys are refused;
// a whole session (login, grant, credential, recording, signature, end) is walked with the real
// store, request service and recorder, as a compromised worker could walk it.
#include "broker/ssh_monitor.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <liboath/oath.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "base/crypto.hpp"
#include "broker/auth_service.hpp"
#include "broker/ssh_keys.hpp"
#include "ldap/local_directory.hpp"
#include "ldap/totp.hpp"
#include "recorder/format.hpp"
#include "recorder/recording.hpp"
#include "storage/audit_checkpoint.hpp"
#include "storage/hosts.hpp"
#include "storage/user_keys.hpp"
#include "storage/users.hpp"
#include "tests/unit/recorder/test_recording.hpp"
#include "tests/unit/storage/test_store.hpp"

namespace sekisho::broker {
namespace {

using nlohmann::json;

constexpr char kUserKey[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
// rita's key (TOTP enrolment required by her role).
constexpr char kRitaKey[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACDvBat+iaWD4PFIZQI4/Z77LTUbCoQcqf/LXHzc762";
constexpr char kHostKey[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICPIAOb0Y56Jaee+Q6ztJkv7rRlkTcGl6uKuzBSZxkeh";

struct MonitorFixture : ::testing::Test {
  std::unique_ptr<testing::TestStore> t = testing::make_test_store();
  storage::DataDir dir{t->dir.path()};
  SigningKey signer = *SigningKey::generate();
  RequestService requests{*t->store, *t->log, approval::default_policy(), nullptr, t->clock};
  SshGatewayContext ctx{*t->store, *t->log, requests, dir, signer, t->clock};
  wire::Fd worker, core;
  std::thread monitor;

  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    worker = wire::Fd(fds[0]);
    core = wire::Fd(fds[1]);
    // As SshGateway does: the monitor's thread closes the core's end when the answers end.
    monitor = std::thread([this] {
      answer_worker(ctx, "127.0.0.1:1", core.get(), "KEY");
      core = wire::Fd();
    });
    auto hello = wire::receive_message(worker.get());
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->body["type"], "hello");
  }
  void TearDown() override {
    worker = wire::Fd();
    if (monitor.joinable()) monitor.join();
  }
  // The core's reply to `request`, or nothing when the core ended the conversation.
  std::optional<wire::Message> ask(const json& request) {
    EXPECT_TRUE(wire::send_message(worker.get(), request));
    auto reply = wire::receive_message(worker.get());
    if (!reply) return std::nullopt;
    return std::move(*reply);
  }
  std::string last_action() {
    std::string action;
    auto r = t->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto q = tx.prepare("SELECT action FROM audit_events ORDER BY seq DESC LIMIT 1");
      if (!q) return tl::make_unexpected(q.error());
      auto row = q->step();
      if (row && *row) action = q->column_text(0);
      return ok();
    });
    EXPECT_TRUE(r);
    return action;
  }
  // The conversation was ended as a protocol violation, audited.
  void expect_violation(const json& request) {
    EXPECT_FALSE(ask(request)) << request.dump();
    worker = wire::Fd();  // a core that answered would wait for the next request
    monitor.join();
    EXPECT_EQ(last_action(), "ssh.protocol_violation") << request.dump();
  }
};

// alice (requester, kUserKey registered) holds an approved request for root@web01, whose host
// key is pinned and whose password is vaulted.
struct SessionFixture : MonitorFixture {
  // The core connects to the target itself at `authorize`: a listening socket on loopback stands
  // in for web01's sshd (the kernel completes the connection; nothing needs to accept it).
  wire::Fd target_listener;

  std::uint16_t listen_on_loopback() {
    target_listener = wire::Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(target_listener);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(target_listener.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(target_listener.get(), 8), 0);
    EXPECT_EQ(::getsockname(target_listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    return ntohs(addr.sin_port);
  }

  void SetUp() override {
    MonitorFixture::SetUp();
    const std::uint16_t target_port = listen_on_loopback();
    const std::string now = "2026-01-01T00:00:00.000Z";
    Caller alice, bob;
    ASSERT_TRUE(t->store->transact([&](storage::Store::Tx& tx) -> Result<void> {
      auto a = storage::create_user(tx, {"alice", "x", {"requester"}, false, now});
      auto b = storage::create_user(tx, {"bob", "x", {"approver"}, false, now});
      if (!a || !b) return fail(ErrorCode::kInternal, "users");
      alice = Caller{*a, "alice", "local", {"requester"}, {}, ""};
      bob = Caller{*b, "bob", "local", {"approver"}, {}, ""};
      auto key = parse_ssh_public_key(kUserKey);
      if (!key) return tl::make_unexpected(key.error());
      if (auto r = storage::add_user_key(tx, *a, {key->fingerprint, kUserKey, "", now}); !r) {
        return r;
      }
      storage::HostRecord h;
      h.name = "web01";
      h.address = "127.0.0.1";
      h.port = target_port;
      h.protocol = "ssh";
      h.host_key = kHostKey;
      h.created_at = now;
      auto host = storage::insert_host(tx, h);
      if (!host) return tl::make_unexpected(host.error());
      auto acct = storage::add_account(tx, *host, "root", "password",
                                       Secret::copy_of(std::string_view("root-Secret-1")),
                                       std::nullopt, now);
      if (!acct) return tl::make_unexpected(acct.error());
      return ok();
    }));
    CreateRequest create;
    create.target = "root@web01";
    create.reason = "patch openssl";
    create.duration = std::chrono::hours(1);
    auto req = requests.create(alice, create);
    ASSERT_TRUE(req) << req.error().message;
    auto approved = requests.review(bob, req->row.id, approval::Decision::kApprove, "ok");
    ASSERT_TRUE(approved) << approved.error().message;
  }

  json login() {
    return {{"type", "auth_pubkey"}, {"target", "root@web01"}, {"key", kUserKey}, {"signed", true}};
  }

  // Logs in, takes the grant and the credential and opens the recording as the worker does,
  // then writes a few records into the file the core passed.
  std::unique_ptr<recorder::Writer> open_session() {
    for (const json& step : {login(), json{{"type", "authorize"}},
                             json{{"type", "credential"}, {"host_key", kHostKey}}}) {
      auto reply = ask(step);
      EXPECT_TRUE(reply && reply->body.value("ok", false)) << step.dump();
      if (!reply) return nullptr;
    }
    auto opened = ask({{"type", "open_recording"}, {"cols", 80}, {"rows", 24}});
    EXPECT_TRUE(opened && opened->body.value("ok", false) && opened->fd);
    if (!opened || !opened->fd) return nullptr;
    json& r = opened->body;
    recorder::Header header;
    header.session_id = r["session"];
    header.user = r["header"]["user"];
    header.host = r["header"]["host"];
    header.account = r["header"]["account"];
    header.request_id = r["header"]["request"];
    header.protocol = "ssh";
    header.start_unix_us = r["header"]["start_unix_us"];
    auto key = hex_decode_secret(r["data_key"].get<std::string>());
    auto wrapped = hex_decode_secret(r["wrapped_key"].get<std::string>());
    EXPECT_TRUE(key && wrapped);
    recorder::DataKey dk{std::move(*key), Bytes(wrapped->bytes().begin(), wrapped->bytes().end())};
    auto w = recorder::Writer::create_at(opened->fd.release(), r["file"], header, std::move(dk),
                                         r["signer_pem"]);
    EXPECT_TRUE(w) << w.error().message;
    if (!w) return nullptr;
    for (int i = 0; i < 20; ++i) {
      recorder::Record rec;
      rec.kind = recorder::RecordKind::kOutput;
      rec.at_us = i * 1000;
      rec.data = "line " + std::to_string(i) + "\r\n";
      EXPECT_EQ((*w)->append(std::move(rec)), recorder::AppendStatus::kOk);
    }
    return std::move(*w);
  }

  // Closes the recording through the core's `sign`, as the worker does.
  Result<recorder::RecordingSummary> close_through_core(recorder::Writer& w) {
    return w.close([this](ByteView message) -> Result<Bytes> {
      auto reply = ask({{"type", "sign"}, {"message", hex_encode(message)}});
      if (!reply || !reply->body.value("ok", false)) {
        return fail(ErrorCode::kPermissionDenied, "the core did not sign");
      }
      auto sig = hex_decode_secret(reply->body["signature"].get<std::string>());
      if (!sig) return tl::make_unexpected(sig.error());
      return Bytes(sig->bytes().begin(), sig->bytes().end());
    });
  }

  std::string session_end_reason() {
    std::string reason;
    EXPECT_TRUE(t->store->read([&](storage::Store::Tx& tx) -> Result<void> {
      auto q = tx.prepare("SELECT coalesce(end_reason, '') FROM sessions");
      if (!q) return tl::make_unexpected(q.error());
      auto row = q->step();
      if (row && *row) reason = q->column_text(0);
      return ok();
    }));
    return reason;
  }
};

// Every stage against every request type the table knows, and one it does not: the expected
// whitelist written out once more here, so that a change to the table is a visible change here.
TEST(MonitorRequests, TheTableAllowsEachRequestOnlyInItsStages) {
  using wire::Stage;
  const std::map<std::string, std::set<Stage>> expected = {
      {"auth_pubkey", {Stage::kStart}},
      {"auth_password", {Stage::kStart}},
      {"auth_totp", {Stage::kSecondFactor}},
      {"authorize", {Stage::kAuthenticated}},
      {"credential", {Stage::kAuthorized}},
      {"target_failed", {Stage::kAuthorized, Stage::kConnected}},
      {"open_recording", {Stage::kConnected}},
      {"file_transfer", {Stage::kRecording}},
      {"sign", {Stage::kRecording}},
      {"session_end", {Stage::kRecording, Stage::kSigned}},
      {"refused",
       {Stage::kAuthenticated, Stage::kAuthorized, Stage::kConnected, Stage::kRecording,
        Stage::kSigned}},
  };
  std::set<std::string> known;
  for (std::string_view type : monitor_request_types()) known.emplace(type);
  std::set<std::string> listed;
  for (const auto& [type, stages] : expected) listed.insert(type);
  EXPECT_EQ(known, listed);
  for (Stage stage :
       {Stage::kStart, Stage::kSecondFactor, Stage::kAuthenticated, Stage::kAuthorized,
        Stage::kConnected, Stage::kRecording, Stage::kSigned, Stage::kEnded}) {
    for (const auto& [type, stages] : expected) {
      EXPECT_EQ(monitor_allows(stage, type), stages.contains(stage))
          << type << " at " << wire::stage_name(stage);
    }
    for (const char* unknown : {"hello", "reply", "", "anything", "auth_pubkey "}) {
      EXPECT_FALSE(monitor_allows(stage, unknown)) << unknown;
    }
  }
}

TEST_F(MonitorFixture, ACredentialBeforeAnyGrantEndsTheConversation) {
  expect_violation({{"type", "credential"}, {"host_key", "x"}});
}

TEST_F(MonitorFixture, AnUnknownRequestIsAProtocolViolation) {
  expect_violation({{"type", "no_such_request"}});
}

TEST_F(MonitorFixture, AnUnregisteredKeyIsRefusedAndAudited) {
  const std::string key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
  auto reply =
      ask({{"type", "auth_pubkey"}, {"target", "root@web01"}, {"key", key}, {"signed", true}});
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body["type"], "reply");
  EXPECT_FALSE(reply->body.value("ok", true));
  EXPECT_EQ(last_action(), "ssh.login");
  // Still unauthenticated: authorize is out of order.
  expect_violation({{"type", "authorize"}});
}

TEST_F(MonitorFixture, ALoginNameAbove400CharactersIsRefusedNotCut) {
  // Its first 140 characters are a well-formed name (hint, root@web01): the core once cut there
  // and logged in what was left.
  std::string name = std::string(129, 'a') + "@root@web01";
  name += std::string(kMaxLoginName + 1 - name.size(), 'b');
  auto reply =
      ask({{"type", "auth_pubkey"}, {"target", name}, {"key", kUserKey}, {"signed", false}});
  ASSERT_TRUE(reply);
  EXPECT_FALSE(reply->body.value("ok", true));
  EXPECT_EQ(reply->body.value("message", ""),
            "the user name is longer than 400 characters; refused");
}

TEST_F(SessionFixture, AKeyLoginAfterAuthenticationIsAProtocolViolation) {
  auto first = ask(login());
  ASSERT_TRUE(first && first->body.value("ok", false));
  expect_violation(login());
}

TEST_F(SessionFixture, AWholeSessionSignsItsChainEndAndEndsWithTheVerifiedHash) {
  auto writer = open_session();
  ASSERT_TRUE(writer);
  auto summary = close_through_core(*writer);
  ASSERT_TRUE(summary) << summary.error().message;
  auto end = ask({{"type", "session_end"}, {"reason", "closed"}});
  ASSERT_TRUE(end);
  EXPECT_EQ(end->body.value("recording_hash", ""), summary->final_hash);
  EXPECT_EQ(session_end_reason(), "closed");
}

// [recordings] max_total_bytes = 1 with one byte already recorded: no room for a recording.
struct FullRecordingDiskFixture : SessionFixture {
  FullRecordingDiskFixture() { ctx.recordings = {1, 0, std::chrono::seconds(0)}; }
};

TEST_F(FullRecordingDiskFixture, ANewSessionIsRefusedAndAuditedWhenTheRecordingWouldNotFit) {
  std::filesystem::create_directory(dir.recordings());
  std::ofstream(dir.recordings() / "earlier.skr") << "x";
  for (const json& step : {login(), json{{"type", "authorize"}},
                           json{{"type", "credential"}, {"host_key", kHostKey}}}) {
    auto reply = ask(step);
    ASSERT_TRUE(reply && reply->body.value("ok", false)) << step.dump();
  }
  auto opened = ask({{"type", "open_recording"}, {"cols", 80}, {"rows", 24}});
  ASSERT_TRUE(opened);
  EXPECT_FALSE(opened->body.value("ok", true));
  EXPECT_FALSE(opened->fd);
  EXPECT_EQ(opened->body.value("message", ""),
            "the gateway's recording disk is full; new sessions are refused");
  std::string refused;
  std::int64_t sessions = -1;
  EXPECT_TRUE(t->store->read([&](storage::Store::Tx& tx) -> Result<void> {
    auto q = tx.prepare(
        "SELECT actor || ' ' || target || ' ' || details FROM audit_events "
        "WHERE action = 'session.refused'");
    if (auto row = q->step(); row && *row) refused = q->column_text(0);
    auto n = tx.prepare("SELECT count(*) FROM sessions");
    if (auto row = n->step(); row && *row) sessions = n->column_int(0);
    return ok();
  }));
  EXPECT_EQ(sessions, 0);  // no row and no file: the session never started
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.recordings()),
                          std::filesystem::directory_iterator()),
            1);
  EXPECT_NE(refused.find("alice root@web01 "), std::string::npos) << refused;
  EXPECT_NE(refused.find("\"reason\":\"recording disk full\""), std::string::npos) << refused;
  EXPECT_NE(refused.find("\"detail\":\"recordings take 1 bytes, max_total_bytes is 1\""),
            std::string::npos)
      << refused;
}

TEST_F(SessionFixture, MoreThan10000FileTransfersDoNotEndTheSession) {
  auto writer = open_session();
  ASSERT_TRUE(writer);
  const json report = {{"type", "file_transfer"},
                       {"path", "/tmp/f"},
                       {"direction", "upload"},
                       {"size", 1},
                       {"protocol", "sftp"}};
  for (int i = 0; i < 10'050; ++i) {
    auto reply = ask(report);
    ASSERT_TRUE(reply) << "the core ended the session at report " << i;
  }
  auto summary = close_through_core(*writer);
  ASSERT_TRUE(summary) << summary.error().message;
  auto end = ask({{"type", "session_end"}, {"reason", "closed"}});
  ASSERT_TRUE(end);
  EXPECT_EQ(end->body.value("recording_hash", ""), summary->final_hash);
}

TEST_F(SessionFixture, TheCoreSignsOnlyTheChainEndOfTheFileItVerified) {
  auto writer = open_session();
  ASSERT_TRUE(writer);
  // An audit checkpoint for a made-up head: what a worker would want signed to forge the trail.
  const storage::AuditCheckpoint forged{999, Digest{}, "2026-01-01T00:00:00.000Z"};
  const std::string checkpoint = storage::checkpoint_message(forged);
  auto reply = ask({{"type", "sign"}, {"message", hex_encode(as_bytes(checkpoint))}});
  ASSERT_TRUE(reply);
  EXPECT_FALSE(reply->body.value("ok", true));
  EXPECT_FALSE(reply->body.contains("signature"));
  EXPECT_EQ(last_action(), "ssh.sign_refused");
  // A refusal does not use up the one signature: the true chain end is still signed.
  auto summary = close_through_core(*writer);
  ASSERT_TRUE(summary) << summary.error().message;
  auto end = ask({{"type", "session_end"}, {"reason", "closed"}});
  ASSERT_TRUE(end);
  EXPECT_EQ(end->body.value("recording_hash", ""), summary->final_hash);
}

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
          tx, *rita, {parse_ssh_public_key(kRitaKey)->fingerprint, kRitaKey, "", kNow});
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

// The key that closes recordings also signs audit checkpoints: the two messages are kept apart by
// their labels, so that neither signature can stand for the other.
TEST(SigningDomains, ACheckpointSignatureNeverClosesARecordingAndViceVersa) {
  testing::TempDir tmp;
  testing::RecordingKeys keys;
  const storage::AuditCheckpoint checkpoint{1, Digest{}, "2026-01-01T00:00:00.000Z"};
  const std::string checkpoint_text = storage::checkpoint_message(checkpoint);

  // A recording whose closing record carries a checkpoint's signature does not verify.
  auto writer = testing::make_writer(keys, tmp.path() / "a.skr");
  ASSERT_TRUE(writer);
  ASSERT_EQ(writer->append(testing::output(0, "hello\r\n")), recorder::AppendStatus::kOk);
  Bytes closing;
  ASSERT_TRUE(writer->close([&](ByteView message) {
    closing.assign(message.begin(), message.end());
    return keys.signer.sign(as_bytes(checkpoint_text));
  }));
  auto report = recorder::verify(tmp.path() / "a.skr", keys.signer.public_pem());
  ASSERT_TRUE(report);
  EXPECT_EQ(report->signature, recorder::SignatureStatus::kInvalid);
  EXPECT_FALSE(recorder::format::decode_closing_message(as_bytes(checkpoint_text)));

  // A checkpoint line carrying a recording close's signature does not verify.
  auto close_sig = keys.signer.sign(closing);
  ASSERT_TRUE(close_sig);
  {
    std::ofstream out(tmp.path() / "checkpoints");
    out << json{{"seq", 1},
                {"hash", hex_encode(ByteView(checkpoint.hash))},
                {"time", checkpoint.time},
                {"sig", hex_encode(*close_sig)}}
               .dump()
        << "\n";
  }
  auto read = storage::read_checkpoints(tmp.path() / "checkpoints", keys.signer.public_pem());
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message.find("does not verify"), std::string::npos);
}

}  // namespace
}  // namespace sekisho::broker
