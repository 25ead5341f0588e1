#include "base/secret.hpp"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <utility>

namespace sekisho {

namespace {

std::size_t page_rounded(std::size_t size) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return (size + page - 1) / page * page;
}

}  // namespace

void wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size > 0) explicit_bzero(data, size);
}

Secret::Secret(std::size_t size) : size_(size) {
  if (size == 0) return;
  mapped_ = page_rounded(size);
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // Best effort: both can fail under tight limits, and neither failure may lose the secret.
  (void)madvise(p, mapped_, MADV_DONTDUMP);
  (void)mlock(p, mapped_);
  data_ = static_cast<std::uint8_t*>(p);
}

Secret Secret::copy_of(std::span<const std::uint8_t> bytes) {
  Secret s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

Secret Secret::copy_of(std::string_view text) {
  return copy_of(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                               text.size()));
}

Secret::Secret(Secret&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

Secret::~Secret() { release(); }

void Secret::release() noexcept {
  if (data_ == nullptr) return;
  explicit_bzero(data_, mapped_);
  (void)munlock(data_, mapped_);
  munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

bool Secret::equals(const Secret& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_, other.data_, size_) == 0;
}

}  // namespace sekisho
