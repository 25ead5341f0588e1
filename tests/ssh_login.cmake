# The SSH gateway's password login: the user name forms (unit) and
# tests/integration/ssh_login_test.sh (registered with the other shell tests): keyboard-interactive
# password + TOTP, throttling and the session cap with real sekishod, sshd and OpenSSH.
sekisho_unit_test(unit_ssh_login
  unit/ssh/login_name_test.cpp
)
