# Recorder: the .skr format, writer, reader, verify and export; crash, pty and fuzz-corpus tests.
# Linked against the recorder (and storage, for the TempDir fixture) only, not the broker.
add_executable(unit_recorder
  unit/recorder/format_test.cpp
  unit/recorder/format_versions_test.cpp
  unit/recorder/seal_test.cpp
  unit/recorder/verify_test.cpp
  unit/recorder/writer_reader_test.cpp
  unit/storage/test_store.cpp
)
target_link_libraries(unit_recorder PRIVATE sekisho_recorder sekisho_storage GTest::gtest
  GTest::gtest_main)
# The recordings of every format version that must still verify (format_versions_test).
target_compile_definitions(unit_recorder PRIVATE
  SEKISHO_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
gtest_discover_tests(unit_recorder DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)

# Test tools: record a command in a pty / read recordings back (also used by the benchmark), and
# the crash test's child that appends until killed.
add_executable(recorder_tool harness/recorder_tool.cpp)
target_link_libraries(recorder_tool PRIVATE sekisho_recorder util)
# Writes the sample recording of the current format version (tests/data/recordings/vN).
add_executable(make_format_sample harness/make_format_sample.cpp)
target_link_libraries(make_format_sample PRIVATE sekisho_recorder)
add_executable(recorder_append_loop harness/recorder_append_loop.cpp)
target_link_libraries(recorder_append_loop PRIVATE sekisho_recorder)

add_executable(integration_recorder_crash integration/recorder_crash_test.cpp
  unit/storage/test_store.cpp)
target_link_libraries(integration_recorder_crash PRIVATE sekisho_recorder sekisho_storage
  GTest::gtest GTest::gtest_main)
target_compile_definitions(integration_recorder_crash PRIVATE
  RECORDER_APPEND_LOOP="$<TARGET_FILE:recorder_append_loop>")
add_dependencies(integration_recorder_crash recorder_append_loop)
gtest_discover_tests(integration_recorder_crash DISCOVERY_TIMEOUT 60
  PROPERTIES LABELS integration TIMEOUT 600)

# The fuzz target and its corpus replay (fuzz/ has no add_subdirectory of its own at the top).
add_subdirectory(${PROJECT_SOURCE_DIR}/fuzz ${PROJECT_BINARY_DIR}/fuzz)
