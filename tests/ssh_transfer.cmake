# File transfers through the SSH gateway: the SFTP and scp parsers (unit) and
# tests/integration/ssh_transfer_test.sh (registered with the other shell tests): real sekishod,
# real sshd host, real OpenSSH sftp and scp.
sekisho_unit_test(unit_ssh_transfer
  unit/worker/ssh/file_transfer_test.cpp
  unit/worker/ssh/sftp_policy_test.cpp
)
