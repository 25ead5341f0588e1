// CHandle: one RAII owner for any C library handle, freed by the given function.
#pragma once

#include <memory>

namespace sekisho {

// A stateless deleter calling `Free(p)`; usable as CHandle<EVP_PKEY, EVP_PKEY_free>.
template <auto Free>
struct CFree {
  template <typename T>
  void operator()(T* p) const noexcept {
    if (p != nullptr) Free(p);
  }
};

// Owns a `T*` and releases it with `Free` exactly once.
template <typename T, auto Free>
using CHandle = std::unique_ptr<T, CFree<Free>>;

}  // namespace sekisho
