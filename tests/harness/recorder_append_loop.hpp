// The records the crash test's child appends: record i is a function of i alone, so the parent
// can check a replayed prefix record by record.
#pragma once

#include <random>
#include <string>

#include "recorder/recording.hpp"

namespace sekisho::testing {

inline recorder::Record loop_record(std::uint64_t i) {
  std::mt19937_64 rng(i);
  recorder::Record r;
  r.kind = i % 7 == 3 ? recorder::RecordKind::kInput : recorder::RecordKind::kOutput;
  r.at_us = static_cast<std::int64_t>(i) * 250;
  r.data.resize(1 + rng() % 3000);
  // Half text, half binary: both must come back byte for byte.
  for (auto& c : r.data) c = static_cast<char>(i % 2 ? rng() : 'a' + rng() % 26);
  return r;
}

}  // namespace sekisho::testing
