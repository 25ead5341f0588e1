#include "cli/replay_timing.hpp"

#include <gtest/gtest.h>

namespace sekisho::cli {
namespace {

using std::chrono::microseconds;

TEST(ReplayTiming, OffsetsInEveryAcceptedForm) {
  const std::pair<const char*, std::int64_t> cases[] = {
      {"0", 0},
      {"90", 90'000'000},
      {"12.5", 12'500'000},
      {"0.01", 10'000},
      {"2s", 2'000'000},
      {"10m", 600'000'000},
      {"1h", 3'600'000'000},
      {"1d", 86'400'000'000},
      {"1:30", 90'000'000},
      {"01:02:03.5", 3'723'500'000},
  };
  for (const auto& [text, us] : cases) {
    auto r = parse_offset_us(text);
    ASSERT_TRUE(r) << text << ": " << r.error().message;
    EXPECT_EQ(*r, us) << text;
  }
}

TEST(ReplayTiming, BadOffsetsAreRefusedWithTheirText) {
  for (const char* text :
       {"", "-1", "1x", "abc", "1:60", "1.5:00", "1:2:3:4", "s", "101d", "1e3", ".", "1:"}) {
    auto r = parse_offset_us(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << text;
  }
  EXPECT_NE(parse_offset_us("later").error().message.find("'later'"), std::string::npos);
}

TEST(ReplayTiming, SpeedIsBounded) {
  EXPECT_EQ(*parse_speed("1000"), 1000.0);
  EXPECT_EQ(*parse_speed("0.5"), 0.5);
  for (const char* text : {"0", "-2", "inf", "nan", "2000000", "fast"}) {
    EXPECT_FALSE(parse_speed(text)) << text;
  }
}

TEST(ReplayTiming, DelayIsTheGapCappedThenScaled) {
  EXPECT_EQ(replay_delay(0, 2'000'000, 1, 0), microseconds(2'000'000));
  EXPECT_EQ(replay_delay(0, 2'000'000, 2, 0), microseconds(1'000'000));
  EXPECT_EQ(replay_delay(0, 60'000'000, 1, 2'000'000), microseconds(2'000'000));
  EXPECT_EQ(replay_delay(0, 60'000'000, 1000, 10'000), microseconds(10));
  EXPECT_EQ(replay_delay(5'000'000, 1'000'000, 1, 0), microseconds(0)) << "out of order";
}

TEST(ReplayTiming, OffsetsAndSizesAreShownCompactly) {
  EXPECT_EQ(format_offset(0), "0:00.000");
  EXPECT_EQ(format_offset(62'345'000), "1:02.345");
  EXPECT_EQ(format_offset(3'723'456'000), "1:02:03.456");
  EXPECT_EQ(format_size(512), "512 B");
  EXPECT_EQ(format_size(12 * 1024 + 300), "12.3 KiB");
  EXPECT_EQ(format_size(4u * 1024 * 1024), "4.0 MiB");
}

}  // namespace
}  // namespace sekisho::cli
