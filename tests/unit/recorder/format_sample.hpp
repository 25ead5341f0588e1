// The recordings kept in tests/data/recordings, one per .skr format version: what they hold and
// the key their data keys are wrapped with, shared by the generator that wrote them
// (tests/harness/make_format_sample.cpp) and the test that reads them back
// (tests/unit/recorder/format_versions_test.cpp).
#pragma once

#include <vector>

#include "base/secret.hpp"
#include "recorder/recording.hpp"

namespace sekisho::testing {

// A fixed recording key (bytes 0..31): test data only, so that the test can decrypt and replay
// files written long ago by another build.
inline Secret format_sample_key() {
  Bytes raw(32);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i);
  return Secret::copy_of(raw);
}

inline recorder::Header format_sample_header() {
  recorder::Header h;
  h.session_id = "format-sample";
  h.user = "alice";
  h.host = "web01";
  h.account = "root";
  h.request_id = "r-1";
  h.protocol = "ssh";
  h.start_unix_us = 1'795'000'000'000'000;
  return h;
}

// One record of every SSH kind, with times spread over two chunks (the generator seals a chunk
// after each record of 300+ bytes).
inline std::vector<recorder::Record> format_sample_records() {
  using recorder::RecordKind;
  std::vector<recorder::Record> out;
  auto add = [&](RecordKind kind, std::int64_t at, std::string data) {
    recorder::Record r;
    r.kind = kind;
    r.at_us = at;
    r.data = std::move(data);
    out.push_back(std::move(r));
  };
  add(RecordKind::kOutput, 1000, "root@web01:~# ");
  add(RecordKind::kInput, 2'000'000, "ls /etc\r");
  add(RecordKind::kOutput, 2'100'000, std::string(300, 'x') + "\r\n");
  recorder::Record resize;
  resize.kind = RecordKind::kResize;
  resize.at_us = 3'000'000;
  resize.cols = 120;
  resize.rows = 40;
  out.push_back(resize);
  add(RecordKind::kMarker, 3'500'000, "window ends in 5 min");
  recorder::Record transfer;
  transfer.kind = RecordKind::kFileTransfer;
  transfer.at_us = 4'000'000;
  transfer.transfer.upload = false;
  transfer.transfer.path = "/etc/hosts";
  transfer.transfer.size = 42;
  transfer.transfer.sha256.fill(0xab);
  out.push_back(transfer);
  add(RecordKind::kOutput, 5'000'000, "\x1b[1mbye\x1b[0m\r\n");
  return out;
}

// Records in the sealed sample: the writer stopped after these, unclosed, and the core sealed it.
inline constexpr std::size_t kSealedSampleRecords = 4;

}  // namespace sekisho::testing
