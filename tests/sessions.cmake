# Recorded sessions: the session rows and recording key in the store, the replay timing of the
# CLI, and (tests/integration/sessions_test.sh, registered with the other shell tests) the whole
# path from a recorded command to replay, search, export and offline verification.
sekisho_unit_test(unit_sessions
  unit/storage/sessions_test.cpp
  unit/storage/test_store.cpp
)

add_executable(unit_replay_timing unit/cli/replay_timing_test.cpp)
target_link_libraries(unit_replay_timing PRIVATE sekisho_cli GTest::gtest GTest::gtest_main)
target_include_directories(unit_replay_timing PRIVATE ${PROJECT_SOURCE_DIR})
gtest_discover_tests(unit_replay_timing DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)

# Replay pages of a real recording (broker/session_recording: read_event_page).
sekisho_unit_test(unit_event_page
  unit/broker/sessions/event_page_test.cpp
  unit/storage/test_store.cpp
)

# Sealing what a stopped gateway or a dead worker left open (broker/session_seal).
sekisho_unit_test(unit_session_seal
  unit/broker/sessions/session_seal_test.cpp
  unit/storage/test_store.cpp
)
