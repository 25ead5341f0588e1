#include "ldap/ldap_filter.hpp"

#include <gtest/gtest.h>

#include <string>

#include "ldap/ldap_directory.hpp"

namespace sekisho::ldap {
namespace {

TEST(LdapFilterTest, PlainValuesPassThrough) {
  EXPECT_EQ(escape_filter_value("alice"), "alice");
  EXPECT_EQ(escape_filter_value("alice.smith@example.com"), "alice.smith@example.com");
  EXPECT_EQ(escape_filter_value(""), "");
}

TEST(LdapFilterTest, SpecialCharactersAreHexEscaped) {
  EXPECT_EQ(escape_filter_value("*"), "\\2a");
  EXPECT_EQ(escape_filter_value("("), "\\28");
  EXPECT_EQ(escape_filter_value(")"), "\\29");
  EXPECT_EQ(escape_filter_value("\\"), "\\5c");
  EXPECT_EQ(escape_filter_value(std::string("a\0b", 3)), "a\\00b");
  EXPECT_EQ(escape_filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
}

TEST(LdapFilterTest, NonAsciiAndControlBytesAreHexEscaped) {
  EXPECT_EQ(escape_filter_value("\xc3\xa9"), "\\c3\\a9");  // é in UTF-8
  EXPECT_EQ(escape_filter_value("a\nb\x7f"), "a\\0ab\\7f");
}

TEST(LdapFilterTest, BuildUserFilterReplacesEveryPlaceholder) {
  EXPECT_EQ(build_user_filter("(&(objectClass=inetOrgPerson)(uid={user}))", "bob"),
            "(&(objectClass=inetOrgPerson)(uid=bob))");
  EXPECT_EQ(build_user_filter("(|(uid={user})(mail={user}))", "a*"), "(|(uid=a\\2a)(mail=a\\2a))");
  EXPECT_EQ(build_user_filter("(uid={user})", "*)(uid=*"), "(uid=\\2a\\29\\28uid=\\2a)");
  EXPECT_EQ(build_user_filter("(objectClass=*)", "x"), "(objectClass=*)");
  // A placeholder inside the value is not expanded a second time.
  EXPECT_EQ(build_user_filter("(uid={user})", "{user}"), "(uid={user})");
}

TEST(LdapFilterTest, DnValuesAreEscaped) {
  EXPECT_EQ(escape_dn_value("Smith, John"), "Smith\\, John");
  EXPECT_EQ(escape_dn_value("a+b=c;d<e>f\"g\\h"), "a\\+b\\=c\\;d\\<e\\>f\\\"g\\\\h");
  EXPECT_EQ(escape_dn_value(" lead"), "\\ lead");
  EXPECT_EQ(escape_dn_value("trail "), "trail\\ ");
  EXPECT_EQ(escape_dn_value("#hash"), "\\#hash");
  EXPECT_EQ(escape_dn_value("mid#dle"), "mid#dle");
  EXPECT_EQ(escape_dn_value(std::string("\0\xc3\xa9", 3)), "\\00\\c3\\a9");
}

TEST(LdapFilterTest, LoginNamesAreBoundedAndPrintable) {
  EXPECT_TRUE(valid_login_name("alice"));
  EXPECT_TRUE(valid_login_name("alice@example.com"));
  EXPECT_TRUE(valid_login_name("*)(uid=*"));  // harmless once escaped; matches nobody
  EXPECT_FALSE(valid_login_name(""));
  EXPECT_FALSE(valid_login_name(std::string(257, 'a')));
  EXPECT_TRUE(valid_login_name(std::string(256, 'a')));
  EXPECT_FALSE(valid_login_name("ali\nce"));
  EXPECT_FALSE(valid_login_name(std::string("ali\0ce", 6)));
  EXPECT_FALSE(valid_login_name("del\x7f"));
}

}  // namespace
}  // namespace sekisho::ldap
