// make_format_sample OUT_DIR [--seal]: writes the sample recording of the current .skr format
// version (tests/unit/recorder/format_sample.hpp) as OUT_DIR/sample.skr, closed and signed by a
// fresh Ed25519 key whose public half goes to OUT_DIR/signing.pub. With --seal (version 2 on) the
// writer stops after the first four records without closing, and the file is sealed as the core
// seals a recording cut by a gateway stop. Run once per new format version; its output is
// committed under tests/data/recordings/vN[-sealed] and must verify and replay forever.
#include <cstdio>
#include <filesystem>
#include <string>

#include "base/crypto.hpp"
#include "base/files.hpp"
#include "recorder/format.hpp"
#include "recorder/recording.hpp"
#include "tests/unit/recorder/format_sample.hpp"

namespace {

using namespace sekisho;

int die(const std::string& message) {
  std::fprintf(stderr, "make_format_sample: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const bool sealed = argc == 3 && std::string(argv[2]) == "--seal";
  if (argc != 2 && !sealed) return die("usage: make_format_sample OUT_DIR [--seal]");
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  auto signer = SigningKey::generate();
  if (!signer) return die(signer.error().message);
  const recorder::Header header = testing::format_sample_header();
  auto key = recorder::new_data_key(testing::format_sample_key(), header.session_id);
  if (!key) return die(key.error().message);
  recorder::WriterOptions options;
  options.chunk_bytes = 256;  // the smallest: the sample spans more than one chunk
  auto writer = recorder::Writer::create(out / "sample.skr", header, std::move(*key),
                                         signer->public_pem(), options);
  if (!writer) return die(writer.error().message);
  auto records = testing::format_sample_records();
  if (sealed) records.resize(testing::kSealedSampleRecords);
  for (const auto& r : records) {
    if ((*writer)->append(r) != recorder::AppendStatus::kOk) return die("append refused");
  }
  recorder::RecordingSummary summary;
  if (sealed) {
    writer->reset();  // writes what is queued, and no closing record: as a killed worker leaves it
    auto s = recorder::seal_recording(out / "sample.skr", recorder::SealReason::kGatewayStopped,
                                      header.start_unix_us + 60'000'000, *signer);
    if (!s) return die(s.error().message);
    summary = s->summary;
  } else {
    auto closed = (*writer)->close([&](ByteView m) { return signer->sign(m); });
    if (!closed) return die(closed.error().message);
    summary = *closed;
  }
  const std::string pem = signer->public_pem();
  if (auto w = write_file_atomic(out / "signing.pub", as_bytes(pem), 0644); !w) {
    return die(w.error().message);
  }
  std::printf("version %u: %s (%llu chunks)\n", unsigned{recorder::format::kVersion},
              (out / "sample.skr").c_str(), static_cast<unsigned long long>(summary.chunks));
  return 0;
}
