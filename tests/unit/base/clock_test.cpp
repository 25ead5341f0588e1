#include "base/clock.hpp"

#include <gtest/gtest.h>

namespace sekisho {
namespace {

using namespace std::chrono_literals;

TEST(Clock, FormatsAndParsesUtcMilliseconds) {
  auto t = parse_time("2026-11-26T16:00:00.123Z");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(format_time(*t), "2026-11-26T16:00:00.123Z");
  EXPECT_EQ(format_time(*t + 877ms), "2026-11-26T16:00:01.000Z");
  auto whole = parse_time("1999-12-31T23:59:59Z");
  ASSERT_TRUE(whole);
  EXPECT_EQ(format_time(*whole), "1999-12-31T23:59:59.000Z");
}

TEST(Clock, RefusesMalformedTimes) {
  for (const char* bad : {"", "2026-11-26", "2026-13-01T00:00:00Z", "2026-11-26T16:00:00",
                          "2026-11-26T16:00:00+01:00", "2026-11-26T16:00:00Zjunk"}) {
    EXPECT_FALSE(parse_time(bad)) << bad;
  }
}

TEST(Clock, ParsesDurations) {
  EXPECT_EQ(*parse_duration("30s"), 30s);
  EXPECT_EQ(*parse_duration("15m"), 15min);
  EXPECT_EQ(*parse_duration("8h"), 8h);
  EXPECT_EQ(*parse_duration("7d"), 7 * 24h);
  for (const char* bad : {"", "s", "0m", "-5m", "5", "5w", "1.5h", "99999999999d"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

TEST(Clock, FormatsDurationsInTheirLargestWholeUnit) {
  EXPECT_EQ(format_duration(45s), "45s");
  EXPECT_EQ(format_duration(90min), "90m");
  EXPECT_EQ(format_duration(8h), "8h");
  EXPECT_EQ(format_duration(48h), "2d");
  EXPECT_EQ(format_duration(0s), "0s");
  for (auto d : {45s, 5400s, 28800s, 172800s, 3601s}) {
    EXPECT_EQ(*parse_duration(format_duration(d)), d);
  }
}

TEST(Clock, TestClockMovesOnlyWhenTold) {
  const auto start = *parse_time("2026-01-01T00:00:00Z");
  TestClock clock(start);
  EXPECT_EQ(clock.now(), start);
  clock.advance(90s);
  EXPECT_EQ(format_time(clock.now()), "2026-01-01T00:01:30.000Z");
  clock.set(start);
  EXPECT_EQ(clock.now(), start);
}

}  // namespace
}  // namespace sekisho
