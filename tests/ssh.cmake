# SSH key handling (broker/ssh_keys) and the sshd "host" harness (tests/harness/sshd_host.sh).
set(SEKISHO_SSHD_HOST_SH ${PROJECT_SOURCE_DIR}/tests/harness/sshd_host.sh)

add_executable(unit_ssh_keys unit/ssh/keys_test.cpp
  unit/ssh/target_test.cpp)
target_link_libraries(unit_ssh_keys PRIVATE sekisho_broker GTest::gtest GTest::gtest_main)
target_include_directories(unit_ssh_keys PRIVATE ${PROJECT_SOURCE_DIR})
gtest_discover_tests(unit_ssh_keys DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)

# Starts real sshd hosts (root: mount namespaces and overlays); loopback only.
add_executable(integration_ssh_host_probe integration/ssh_host_probe_test.cpp)
target_link_libraries(integration_ssh_host_probe PRIVATE
  sekisho_broker GTest::gtest GTest::gtest_main)
target_include_directories(integration_ssh_host_probe PRIVATE ${PROJECT_SOURCE_DIR})
# The probe runs in this build's worker (the program `hosts add` starts).
target_compile_definitions(integration_ssh_host_probe PRIVATE
  SSHD_HOST_SH="${SEKISHO_SSHD_HOST_SH}" SEKISHO_WORKER="$<TARGET_FILE:sekisho-worker>")
add_dependencies(integration_ssh_host_probe sekisho-worker)
gtest_discover_tests(integration_ssh_host_probe DISCOVERY_TIMEOUT 60
  PROPERTIES LABELS integration TIMEOUT 120)
