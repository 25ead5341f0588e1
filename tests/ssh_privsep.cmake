# SSH gateway privilege separation: the recorder writing into a descriptor the core created, the
# worker's privilege drop, its seccomp filter, and (integration/ssh_privsep_test.sh, picked up by the glob) a live
# session checked from /proc.
add_executable(unit_ssh_privsep
  unit/recorder/writer_fd_test.cpp
  unit/privsep/worker_privileges_test.cpp
  unit/privsep/worker_sandbox_test.cpp
  unit/storage/test_store.cpp
)
target_link_libraries(unit_ssh_privsep PRIVATE sekisho_broker GTest::gtest GTest::gtest_main)
target_include_directories(unit_ssh_privsep PRIVATE ${PROJECT_SOURCE_DIR})
gtest_discover_tests(unit_ssh_privsep DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
