# Unit tests: one executable per source folder. unit_X runs every tests/unit/X/*_test.cpp and links
# X's library plus the test support it needs, nothing above it: the tests of a pure module prove
# that it works without the store or the broker (cmake/link_guard.cmake refuses a configuration
# where they don't, tests/link_guard.sh checks the built executables).
function(sekisho_unit_tests name folder)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "LINK")
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/unit/${folder}/*_test.cpp)
  if(NOT sources)
    message(FATAL_ERROR "tests/unit/${folder} has no *_test.cpp for ${name}")
  endif()
  add_executable(${name} ${sources})
  target_link_libraries(${name} PRIVATE ${arg_LINK} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
  set_property(GLOBAL APPEND PROPERTY SEKISHO_UNIT_TEST_SOURCES ${sources})
endfunction()

#                  executable       tests/unit/...   links
sekisho_unit_tests(unit_base        base             LINK sekisho_base)
sekisho_unit_tests(unit_storage     storage          LINK sekisho_storage sekisho_test_store)
sekisho_unit_tests(unit_ldap        ldap             LINK sekisho_ldap)
sekisho_unit_tests(unit_approval    approval         LINK sekisho_approval)
sekisho_unit_tests(unit_rotation    rotation         LINK sekisho_rotation)
sekisho_unit_tests(unit_recorder    recorder         LINK sekisho_recorder sekisho_test_support)
sekisho_unit_tests(unit_privsep     privsep          LINK sekisho_privsep sekisho_test_support)
sekisho_unit_tests(unit_ssh         ssh              LINK sekisho_ssh)
sekisho_unit_tests(unit_worker_ssh  worker/ssh       LINK sekisho_ssh_worker)
foreach(room access api auth daemon rotation sessions ssh)
  sekisho_unit_tests(unit_broker_${room} broker/${room} LINK sekisho_broker sekisho_test_store)
endforeach()
sekisho_unit_tests(unit_cli         cli              LINK sekisho_cli)

# The recordings of every format version that must still verify (format_versions_test).
target_compile_definitions(unit_recorder PRIVATE
  SEKISHO_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")

# The refusal to run on plain SQLite, shown with a real mis-linked binary: the storage sources
# compiled as usual but linked against Debian's libsqlite3 instead of SQLCipher.
find_library(PLAIN_SQLITE NAMES libsqlite3.so.0 sqlite3)
if(NOT PLAIN_SQLITE)
  message(FATAL_ERROR
    "libsqlite3.so.0 not found: scripts/setup.sh installs sqlite3, which brings it")
endif()
get_target_property(STORAGE_SOURCES sekisho_storage SOURCES)
list(TRANSFORM STORAGE_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/storage/)
add_executable(plain_sqlite_refusal unit/storage/plain_sqlite_refusal.cpp ${STORAGE_SOURCES})
target_compile_definitions(plain_sqlite_refusal PRIVATE SQLITE_HAS_CODEC)
target_include_directories(plain_sqlite_refusal PRIVATE ${SQLCIPHER_INCLUDE_DIRS})
target_link_libraries(plain_sqlite_refusal PRIVATE sekisho_base ${PLAIN_SQLITE})
add_test(NAME unit.plain_sqlite_refusal COMMAND plain_sqlite_refusal)
set_tests_properties(unit.plain_sqlite_refusal PROPERTIES LABELS unit)

# Every test source belongs to an executable: a new folder under tests/unit without a line above
# would otherwise be silently left out of the build.
file(GLOB_RECURSE all_unit_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/unit/*.cpp)
get_property(claimed GLOBAL PROPERTY SEKISHO_UNIT_TEST_SOURCES)
list(REMOVE_ITEM all_unit_sources ${claimed}
     ${CMAKE_CURRENT_SOURCE_DIR}/unit/storage/plain_sqlite_refusal.cpp)
if(all_unit_sources)
  list(TRANSFORM all_unit_sources REPLACE "^${PROJECT_SOURCE_DIR}/" "")
  message(FATAL_ERROR "${all_unit_sources}: in no unit executable (tests/unit.cmake lists them; "
                      "test files end in _test.cpp, shared helpers go to tests/support)")
endif()
