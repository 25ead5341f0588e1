// The core's side of the worker conversation, driven over a real socketpair by a scripted
// "worker": requests out of order end the conversation and are audited; unknown keys are refused;
// a whole session (login, grant, credential, recording, signature, end) is walked with the real
// store, request service and recorder, as a compromised worker could walk it.
#include "tests/unit/broker/ssh/monitor_fixture.hpp"

namespace sekisho::broker {
namespace {

using nlohmann::json;

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
  name += std::string(ssh::kMaxLoginName + 1 - name.size(), 'b');
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
