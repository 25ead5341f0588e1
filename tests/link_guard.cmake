# unit.link_guard: the rules of cmake/link_guard.cmake checked again on the built binaries
# (tests/link_guard.sh reads their NEEDED entries and symbols), for every worker executable and
# every pure module's unit test named there.
set(link_guard_args --worker)
foreach(target IN LISTS SEKISHO_WORKER_EXECUTABLES)
  list(APPEND link_guard_args $<TARGET_FILE:${target}>)
endforeach()
list(APPEND link_guard_args --pure)
foreach(target IN LISTS SEKISHO_PURE_TESTS)
  list(APPEND link_guard_args $<TARGET_FILE:${target}>)
endforeach()
add_test(NAME unit.link_guard COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/link_guard.sh
                                      ${link_guard_args})
set_tests_properties(unit.link_guard PROPERTIES LABELS unit)
