#include "cli/table.hpp"

#include <gtest/gtest.h>

namespace sekisho::cli {
namespace {

TEST(FormatTable, AlignsColumnsAndTrimsTheLastOne) {
  const std::string out =
      format_table({"NAME", "ROLES", "STATE"},
                   {{"admin", "operator", "active"}, {"alice-long", "requester", ""}});
  EXPECT_EQ(out,
            "NAME        ROLES      STATE\n"
            "admin       operator   active\n"
            "alice-long  requester\n");
}

TEST(FormatTable, CountsUtf8CodePointsForWidth) {
  const std::string out = format_table({"A", "B"}, {{"café", "x"}, {"abcd", "y"}});
  EXPECT_EQ(out,
            "A     B\n"
            "café  x\n"
            "abcd  y\n");
}

TEST(FormatTable, PadsShortRowsAndNeutralisesControlCharacters) {
  const std::string out = format_table({"A", "B"}, {{"evil\x1b[2Jname\nx"}});
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(out, "A" + std::string(15, ' ') + "B\nevil?[2Jname?x\n");
}

TEST(Cell, RendersJsonValues) {
  const nlohmann::json j = {{"s", "text"}, {"a", {"x", "y"}}, {"t", true},
                            {"f", false},  {"n", nullptr},    {"i", 22}};
  EXPECT_EQ(cell(j, "s"), "text");
  EXPECT_EQ(cell(j, "a"), "x,y");
  EXPECT_EQ(cell(j, "t"), "yes");
  EXPECT_EQ(cell(j, "f"), "no");
  EXPECT_EQ(cell(j, "n"), "");
  EXPECT_EQ(cell(j, "i"), "22");
  EXPECT_EQ(cell(j, "missing"), "");
  EXPECT_EQ(cell(nlohmann::json::array(), "s"), "");
}

}  // namespace
}  // namespace sekisho::cli
