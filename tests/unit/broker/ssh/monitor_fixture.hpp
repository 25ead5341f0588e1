// The fixtures of the core's worker-conversation tests: a scripted "worker" on one end of a real
// socketpair, the monitor (answer_worker) on the other, with the real store, request service and
// recorder. MonitorFixture: a bare conversation; SessionFixture: alice holds an approved request
// for root@web01 whose host key is pinned and password vaulted.
#pragma once

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
#include "broker/auth/auth_service.hpp"
#include "broker/ssh/monitor.hpp"
#include "ldap/local_directory.hpp"
#include "ldap/totp.hpp"
#include "recorder/format.hpp"
#include "recorder/recording.hpp"
#include "ssh/keys.hpp"
#include "storage/audit_checkpoint.hpp"
#include "storage/hosts.hpp"
#include "storage/user_keys.hpp"
#include "storage/users.hpp"
#include "tests/support/test_store.hpp"
#include "tests/unit/recorder/test_recording.hpp"

namespace sekisho::broker {

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
      auto key = ssh::parse_ssh_public_key(kUserKey);
      if (!key) return tl::make_unexpected(key.error());
      if (auto r = storage::add_user_key(tx, *a, {key->fingerprint, kUserKey, "", now}); !r) {
        return r;
      }
      auto h = testing::test_host();
      h.port = target_port;
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

}  // namespace sekisho::broker
