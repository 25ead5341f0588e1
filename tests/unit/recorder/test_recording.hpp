// Fixtures shared by recorder tests: keys, a header, and writing/reading a recording in one call.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/crypto.hpp"
#include "recorder/recording.hpp"

namespace sekisho::testing {

struct RecordingKeys {
  Secret recording_key = random_secret(32);
  SigningKey signer = *SigningKey::generate();

  recorder::SignFunction sign() const {
    return [this](ByteView m) { return signer.sign(m); };
  }
  recorder::Reader::KeyUnwrapper unwrapper() const {
    return [this](const recorder::Header& h, ByteView wrapped) {
      return recorder::unwrap_data_key(recording_key, h.session_id, wrapped);
    };
  }
};

inline recorder::Header test_header(std::string session = "s-0001") {
  recorder::Header h;
  h.session_id = std::move(session);
  h.user = "alice";
  h.host = "web01";
  h.account = "root";
  h.request_id = "r-42";
  h.protocol = "ssh";
  h.start_unix_us = 1'790'000'000'000'000;
  return h;
}

inline recorder::Record output(std::int64_t at_us, std::string data,
                               recorder::RecordKind kind = recorder::RecordKind::kOutput) {
  recorder::Record r;
  r.kind = kind;
  r.at_us = at_us;
  r.data = std::move(data);
  return r;
}

inline std::unique_ptr<recorder::Writer> make_writer(const RecordingKeys& keys,
                                                     const std::filesystem::path& path,
                                                     recorder::WriterOptions options = {}) {
  auto key = recorder::new_data_key(keys.recording_key, "s-0001");
  EXPECT_TRUE(key.has_value());
  auto w = recorder::Writer::create(path, test_header(), std::move(*key), keys.signer.public_pem(),
                                    options);
  EXPECT_TRUE(w.has_value()) << (w ? "" : w.error().message);
  return w ? std::move(*w) : nullptr;
}

// Writes `records` (all must be accepted) and closes the recording.
inline recorder::RecordingSummary write_recording(const RecordingKeys& keys,
                                                  const std::filesystem::path& path,
                                                  const std::vector<recorder::Record>& records,
                                                  recorder::WriterOptions options = {}) {
  auto w = make_writer(keys, path, options);
  for (const auto& r : records) EXPECT_EQ(w->append(r), recorder::AppendStatus::kOk);
  auto s = w->close(keys.sign());
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  return s ? *s : recorder::RecordingSummary{};
}

inline std::unique_ptr<recorder::Reader> open_reader(const RecordingKeys& keys,
                                                     const std::filesystem::path& path) {
  auto r = recorder::Reader::open(path, keys.unwrapper());
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? std::move(*r) : nullptr;
}

inline std::vector<recorder::Record> replay_all(recorder::Reader& reader, std::int64_t from = 0) {
  std::vector<recorder::Record> out;
  auto r = reader.replay(from, [&](const recorder::Record& rec) {
    out.push_back(rec);
    return true;
  });
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return out;
}

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_bytes(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

}  // namespace sekisho::testing
