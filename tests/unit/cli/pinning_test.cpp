// The CLI's certificate pinning against a real in-process TLS server (cpp-httplib, 127.0.0.1,
// kernel-chosen port), with two throwaway self-signed certificates made here.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "base/c_handle.hpp"
#include "cli/api_client.hpp"
#include "cli/certificate_pin.hpp"

namespace sekisho::cli {
namespace {

namespace fs = std::filesystem;

// A self-signed certificate and its key, as PEM files.
struct TestIdentity {
  fs::path cert;
  fs::path key;
  std::string fingerprint;
};

TestIdentity make_identity(const fs::path& dir, const std::string& name) {
  CHandle<EVP_PKEY, EVP_PKEY_free> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  CHandle<X509, X509_free> cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  EXPECT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  TestIdentity id{dir / (name + ".crt"), dir / (name + ".key"),
                  certificate_fingerprint(cert.get())};
  FILE* f = std::fopen(id.cert.c_str(), "w");
  PEM_write_X509(f, cert.get());
  std::fclose(f);
  f = std::fopen(id.key.c_str(), "w");
  PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  return id;
}

// A TLS server that records every request that reaches HTTP parsing.
class RecordingServer {
 public:
  RecordingServer(const TestIdentity& id, int port) : server_(id.cert.c_str(), id.key.c_str()) {
    EXPECT_TRUE(server_.is_valid());
    server_.Get("/v1/health", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    server_.Post("/v1/login", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.set_content(R"({"token":"abc","user":"admin"})", "application/json");
    });
    server_.Get("/big", [this](const httplib::Request& req, httplib::Response& res) {
      record(req);
      res.set_content("\"" + std::string(2 * 1024 * 1024, 'x') + "\"", "application/json");
    });
    if (port == 0) {
      port_ = server_.bind_to_any_port("127.0.0.1");
    } else {
      port_ = server_.bind_to_port("127.0.0.1", port) ? port : -1;
    }
    EXPECT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the accept loop runs would be lost and join() would wait forever.
    for (int i = 0; i < 1000 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(server_.is_running());
  }
  ~RecordingServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  void record(const httplib::Request& req) {
    std::lock_guard lock(mutex_);
    received_.push_back(req.method + " " + req.path + " " + req.body + " " +
                        req.get_header_value("Authorization"));
  }

  httplib::SSLServer server_;
  int port_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> received_;
};

class PinningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sekisho-pin-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    a_ = make_identity(dir_, "gateway-a");
    b_ = make_identity(dir_, "gateway-b");
    ASSERT_NE(a_.fingerprint, b_.fingerprint);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static ServerUrl url(int port) { return ServerUrl{"127.0.0.1", port}; }
  static Secret login_body() {
    const Secret password = Secret::copy_of("hunter2-secret");
    return json_with_secrets({{"user", "admin"}}, {{"password", &password}});
  }

  fs::path dir_;
  TestIdentity a_;
  TestIdentity b_;
};

TEST_F(PinningTest, FingerprintFormatIsSha256OfDerInLowercaseHex) {
  ASSERT_EQ(a_.fingerprint.size(), 7u + 64u);
  EXPECT_EQ(a_.fingerprint.rfind("SHA256:", 0), 0u);
  EXPECT_EQ(a_.fingerprint.find_first_not_of("0123456789abcdef", 7), std::string::npos);
}

TEST_F(PinningTest, FirstUseAcceptsAndReportsTheCertificateThenSameCertPasses) {
  RecordingServer server(a_, 0);
  ApiClient first(url(server.port()), std::nullopt, "PINS");
  auto r = first.post_secret("/v1/login", login_body(), nullptr);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(first.presented_certificate(), a_.fingerprint);

  ApiClient pinned(url(server.port()), a_.fingerprint, "PINS");
  const Secret token = Secret::copy_of("tok");
  auto again = pinned.get("/v1/health", &token);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->body["status"], "ok");
  const auto got = server.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].find("hunter2-secret"), std::string::npos);
  EXPECT_NE(got[1].find("Bearer tok"), std::string::npos);
}

TEST_F(PinningTest, OtherCertificateIsRefusedBeforeAnyRequestReachesTheServer) {
  int port = 0;
  {
    RecordingServer original(a_, 0);
    port = original.port();
  }
  RecordingServer impostor(b_, port);  // same address, another certificate
  ApiClient client(url(port), a_.fingerprint, "/home/x/.config/sekisho/known_gateways.json");
  const Secret token = Secret::copy_of("tok-must-not-leak");
  auto r = client.post_secret("/v1/login", login_body(), &token);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "the gateway's certificate changed (pinned " + a_.fingerprint + ", presented " +
                b_.fingerprint +
                "); if this is expected, remove /home/x/.config/sekisho/known_gateways.json and "
                "log in again");
  EXPECT_FALSE(client.get("/v1/health", nullptr));
  EXPECT_TRUE(impostor.received().empty());  // no password, token or even a request line
}

TEST_F(PinningTest, TrustOnFirstUseHoldsForTheRestOfTheClientsLife) {
  // A login takes two requests (password change); both must reach the same gateway.
  int port = 0;
  auto client = std::make_unique<ApiClient>(url(0), std::nullopt, "PINS");
  {
    RecordingServer original(a_, 0);
    port = original.port();
    client = std::make_unique<ApiClient>(url(port), std::nullopt, "PINS");
    ASSERT_TRUE(client->get("/v1/health", nullptr));
  }
  RecordingServer impostor(b_, port);
  auto r = client->post_secret("/v1/login", login_body(), nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("certificate changed"), std::string::npos);
  EXPECT_TRUE(impostor.received().empty());
}

TEST_F(PinningTest, UnreachableServerIsOneClearLine) {
  int port = 0;
  {
    RecordingServer gone(a_, 0);
    port = gone.port();
  }
  ApiClient client(url(port), std::nullopt, "PINS", ClientLimits{2, 2, 1024});
  auto r = client.get("/v1/health", nullptr);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cannot reach the gateway at https://127.0.0.1:" +
                                   std::to_string(port) + " (is sekishod running there?)");
}

TEST_F(PinningTest, OversizedAnswerIsRefused) {
  RecordingServer server(a_, 0);
  ApiClient client(url(server.port()), a_.fingerprint, "PINS", ClientLimits{5, 5, 1024 * 1024});
  auto r = client.get("/big", nullptr);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("larger than 1048576 bytes"), std::string::npos);
}

}  // namespace
}  // namespace sekisho::cli
