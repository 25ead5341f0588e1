# Approval: policy, state machine and review rules (pure logic; property and exhaustive tests).
sekisho_unit_test(unit_approval
  unit/approval/policy_test.cpp
  unit/approval/request_test.cpp
)
target_link_libraries(unit_approval PRIVATE sekisho_approval)
