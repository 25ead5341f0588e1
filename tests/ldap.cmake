# Directory (ldap/) tests: unit tests, and integration tests against a real slapd and a real
# Samba AD domain controller started by the scripts in harness/.
add_executable(unit_ldap unit/ldap/ldap_filter_test.cpp unit/ldap/totp_test.cpp)
target_link_libraries(unit_ldap PRIVATE sekisho_ldap GTest::gtest GTest::gtest_main)
target_include_directories(unit_ldap PRIVATE ${PROJECT_SOURCE_DIR})
gtest_discover_tests(unit_ldap DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)

add_executable(integration_ldap_directory integration/ldap_directory_test.cpp)
target_link_libraries(integration_ldap_directory PRIVATE sekisho_ldap GTest::gtest
                      GTest::gtest_main)
target_include_directories(integration_ldap_directory PRIVATE ${PROJECT_SOURCE_DIR}/tests
                           ${PROJECT_SOURCE_DIR})
target_compile_definitions(integration_ldap_directory PRIVATE
  SLAPD_HARNESS="${CMAKE_CURRENT_SOURCE_DIR}/harness/slapd.sh")
gtest_discover_tests(integration_ldap_directory DISCOVERY_TIMEOUT 60
  PROPERTIES LABELS integration TIMEOUT 120)

# Samba AD: one provisioned template per ctest run (fixture), copied and started per test.
# Samba's LDAP ports are fixed (389/636 on 127.10.0.1), so these tests never run in parallel.
set(SEKISHO_SAMBA_TEMPLATE ${CMAKE_CURRENT_BINARY_DIR}/samba-template)
add_test(NAME ad.template.setup
  COMMAND bash -c "rm -rf \"$0\" && bash \"$1\" template \"$0\""
          ${SEKISHO_SAMBA_TEMPLATE} ${CMAKE_CURRENT_SOURCE_DIR}/harness/samba_ad.sh)
set_tests_properties(ad.template.setup PROPERTIES
  FIXTURES_SETUP samba_ad LABELS "integration;ad" TIMEOUT 300)
add_test(NAME ad.template.cleanup COMMAND ${CMAKE_COMMAND} -E rm -rf ${SEKISHO_SAMBA_TEMPLATE})
set_tests_properties(ad.template.cleanup PROPERTIES
  FIXTURES_CLEANUP samba_ad LABELS "integration;ad")

add_executable(integration_ad_directory integration/ad_directory_test.cpp)
target_link_libraries(integration_ad_directory PRIVATE sekisho_ldap GTest::gtest
                      GTest::gtest_main)
target_include_directories(integration_ad_directory PRIVATE ${PROJECT_SOURCE_DIR}/tests
                           ${PROJECT_SOURCE_DIR})
target_compile_definitions(integration_ad_directory PRIVATE
  SAMBA_HARNESS="${CMAKE_CURRENT_SOURCE_DIR}/harness/samba_ad.sh")
# One ctest entry for the whole suite: gtest_discover_tests cannot pass a list-valued LABELS.
add_test(NAME integration.ad_directory COMMAND integration_ad_directory)
set_tests_properties(integration.ad_directory PROPERTIES
  LABELS "integration;ad" TIMEOUT 300
  FIXTURES_REQUIRED samba_ad RESOURCE_LOCK samba_ad_ports
  ENVIRONMENT "SAMBA_TEMPLATE_DIR=${SEKISHO_SAMBA_TEMPLATE}")
