# The sekisho client: unit tests of the CLI library (state dir, secrets from stdin, parsing,
# tables, and certificate pinning against an in-process TLS server).
add_executable(unit_cli
  unit/cli/api_client_test.cpp
  unit/cli/arguments_test.cpp
  unit/cli/cli_home_test.cpp
  unit/cli/pinning_test.cpp
  unit/cli/prompt_test.cpp
  unit/cli/table_test.cpp
)
target_link_libraries(unit_cli PRIVATE sekisho_cli GTest::gtest GTest::gtest_main)
target_include_directories(unit_cli PRIVATE ${PROJECT_SOURCE_DIR})
gtest_discover_tests(unit_cli DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
