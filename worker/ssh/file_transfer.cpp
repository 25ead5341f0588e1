// What the trackers of worker/ssh/file_transfer.hpp share: path cleaning and OrderedHash. The
// trackers: sftp_filter.cpp (SFTP), scp_tracker.cpp (legacy scp).
#include "worker/ssh/file_transfer.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <utility>

namespace sekisho::worker {

std::string clean_transfer_path(std::string_view p) {
  std::string s(p.substr(0, kMaxTransferPath));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

// --- OrderedHash --------------------------------------------------------------------------------

struct OrderedHash::Ctx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(md); }
};

OrderedHash::OrderedHash(std::size_t* budget) : ctx_(std::make_unique<Ctx>()), budget_(budget) {
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) {
    lost_ = "hash unavailable";
  }
}

OrderedHash::~OrderedHash() { release(); }

void OrderedHash::release() {
  *budget_ += waiting_bytes_;
  waiting_bytes_ = 0;
  waiting_.clear();
}

void OrderedHash::lose(const std::string& why) {
  if (lost_.empty()) lost_ = why;
  release();
}

void OrderedHash::add(std::uint64_t offset, std::string_view data) {
  if (data.empty()) return;
  if (offset > (std::uint64_t{1} << 62)) return lose("an offset beyond 2^62");
  end_ = std::max(end_, offset + data.size());
  if (!lost_.empty()) return;
  if (offset < next_) return lose("bytes at offset " + std::to_string(offset) + " sent twice");
  if (offset == next_) {
    EVP_DigestUpdate(ctx_->md, data.data(), data.size());
    next_ += data.size();
    drain();
    return;
  }
  if (data.size() > *budget_) return lose("too many bytes out of order");
  auto [it, inserted] = waiting_.emplace(offset, std::string(data));
  if (!inserted) return lose("bytes at offset " + std::to_string(offset) + " sent twice");
  *budget_ -= data.size();
  waiting_bytes_ += data.size();
}

void OrderedHash::drain() {
  while (!waiting_.empty() && waiting_.begin()->first <= next_) {
    auto node = waiting_.extract(waiting_.begin());
    *budget_ += node.mapped().size();
    waiting_bytes_ -= node.mapped().size();
    if (node.key() < next_) return lose("overlapping pieces");
    EVP_DigestUpdate(ctx_->md, node.mapped().data(), node.mapped().size());
    next_ += node.mapped().size();
  }
}

std::optional<Digest> OrderedHash::finish(std::string& note) {
  if (lost_.empty() && !waiting_.empty()) lose("a gap in the file's bytes");
  if (lost_.empty() && next_ != end_) lose("a gap in the file's bytes");
  if (!lost_.empty()) {
    note = "sha256 not computed: " + lost_;
    return std::nullopt;
  }
  Digest d{};
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx_->md, d.data(), &n) != 1 || n != d.size()) {
    note = "sha256 not computed: hash failed";
    return std::nullopt;
  }
  lost_ = "finished";
  return d;
}

}  // namespace sekisho::worker
