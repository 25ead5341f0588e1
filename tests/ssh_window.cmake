# The end of live SSH sessions: the window check's decision and warning text, and the worker's
# CoreLink setting aside the core's pushes (unit, over a real socketpair); end to end in
# tests/integration/ssh_window_test.sh (registered with the other shell tests).
sekisho_unit_test(unit_ssh_window
  unit/broker/sessions/session_window_test.cpp
  unit/privsep/core_link_test.cpp
)
