# The SSH gateway: the core ↔ worker wire and the vault read (unit), and
# tests/integration/ssh_gateway_test.sh (registered with the other shell tests): real sekishod,
# real sshd host, real OpenSSH client.
sekisho_unit_test(unit_ssh_gateway
  unit/privsep/worker_protocol_test.cpp
  unit/broker/ssh/monitor_test.cpp
  unit/broker/ssh/monitor_totp_test.cpp
  unit/broker/ssh/monitor_disk_test.cpp
  unit/broker/api/router_test.cpp
  unit/storage/vault_test.cpp
  unit/storage/test_store.cpp
)
