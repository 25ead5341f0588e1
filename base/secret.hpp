// Secret: bytes that must never reach a log, an error, a core dump or freed memory unwiped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sekisho {

// Move-only owner of secret bytes. The memory is its own mapping, marked MADV_DONTDUMP so that
// it stays out of core dumps, and is wiped with explicit_bzero before it is unmapped. There is
// deliberately no operator<< and no fmt formatter: a Secret cannot be logged by accident.
// Not thread-safe; one owner at a time.
class Secret {
 public:
  Secret() = default;
  // Allocates `size` zeroed bytes.
  explicit Secret(std::size_t size);
  // Copies `bytes` into a new Secret; the caller wipes its own copy.
  static Secret copy_of(std::span<const std::uint8_t> bytes);
  static Secret copy_of(std::string_view text);

  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  ~Secret();

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  // A view for APIs that take text (a password); valid while this Secret lives.
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

  // Constant-time comparison.
  bool equals(const Secret& other) const;

 private:
  void release() noexcept;

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;
};

// Wipes a buffer that held a secret (a std::string read from stdin, a stack array).
void wipe(void* data, std::size_t size) noexcept;

}  // namespace sekisho
