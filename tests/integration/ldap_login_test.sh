#!/usr/bin/env bash
# Logins through the real CLI against a real sekishod whose directory is a real slapd over LDAPS
# with a throwaway CA: roles from groups, wrong/empty passwords, departed and locked staff,
# filter injection, and the directory going down.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

bash "$harness/slapd.sh" start "$TMP/slapd" >/dev/null
STARTED_PIDS+=("$(cat "$TMP/slapd/slapd.pid")")
source "$TMP/slapd/env"
base="dc=example,dc=com"

dir="$TMP/var"
init_data_dir "$dir"
cat >"$TMP/c.toml" <<TOML
[api]
listen = "127.0.0.1:0"
[ssh]
listen = "127.0.0.1:0"
[directory]
kind = "ldap"
url = "$SLAPD_LDAPS_URL"
ca_file = "$SLAPD_CA"
bind_dn = "$SLAPD_BIND_DN"
bind_password_file = "$SLAPD_BIND_PW_FILE"
user_base = "$base"
group_base = "ou=groups,$base"
departed_filter = "(employeeType=departed)"
timeout = "3s"
[roles]
requester = ["cn=pam-requesters,ou=groups,$base"]
approver = ["cn=pam-approvers,ou=groups,$base"]
auditor = ["cn=pam-auditors,ou=groups,$base", "cn=pam-legacy-auditors,ou=groups,$base"]
operator = ["cn=pam-operators,ou=groups,$base"]
[auth]
max_failures = 100
TOML
start_gateway "$dir" "$TMP/c.toml"

roles_of() { json_rows - roles | sort | paste -sd,; }  # whoami --json on stdin
login_as alice alice alice-Pw-91 2>/dev/null || fail "alice could not log in over LDAPS"
[ "$(cli_as alice --json whoami | roles_of)" = operator,requester ] || fail "alice's roles: $(cli_as alice --json whoami)"
login_as carol carol carol-Pw-93 2>/dev/null || fail "carol could not log in"
[ "$(cli_as carol --json whoami | roles_of)" = approver,auditor,requester ] || fail "carol's roles"
login_as mallory mallory mallory-Pw-96 2>/dev/null || fail "mallory could not log in"
[ "$(cli_as mallory --json whoami | roles_of)" = auditor ] || fail "mallory's roles (groupOfUniqueNames)"
[ "$(cli_as alice --json whoami | json_field - source)" = ldap ] \
  || fail "alice is not shown as an LDAP user"
pass "LDAPS logins map directory groups to roles"

expect_refusal "wrong user name or password" 1 login_as x1 alice not-her-password
expect_refusal "wrong user name or password" 1 login_as x2 nosuchuser whatever
expect_refusal "wrong user name or password" 1 login_as x3 '*)(uid=*' alice-Pw-91
expect_refusal "wrong user name or password" 1 login_as x4 'alice)(|(uid=*' alice-Pw-91
pass "wrong passwords, unknown users and filter injection are refused alike"

# The empty password goes straight to the API (a CLI could refuse it itself): the server must
# refuse it and never turn it into an anonymous bind.
code=$(curl -s -o "$TMP/empty" -w '%{http_code}' --cacert "$dir/tls.crt" \
  "https://127.0.0.1:$GW_PORT/v1/login" -d '{"user":"alice","password":""}')
[ "$code" = 401 ] || fail "empty password gave $code: $(cat "$TMP/empty")"
pass "an empty password is refused by the server"

expect_refusal "departed" 1 login_as x5 dave dave-Pw-94
expect_refusal "user erin is disabled" 1 login_as x6 erin erin-Pw-95
pass "departed and locked staff are refused even with the right password"

bash "$harness/slapd.sh" stop "$TMP/slapd" >/dev/null
expect_refusal "unavailable" 1 login_as x7 bob bob-Pw-92
health "$dir" >/dev/null || fail "the gateway died when the directory went down"
pass "directory down: a clear refusal, the gateway keeps running"

stop_gateway TERM
actions=$(audit_actions "$dir")
[ "$(grep -c '^login.success$' <<<"$actions")" -eq 3 ] || fail "login.success count: $actions"
[ "$(grep -c '^login.failure$' <<<"$actions")" -ge 8 ] || fail "login.failure count: $actions"
reasons=$(sql "$dir" "SELECT details FROM audit_events WHERE action = 'login.failure';")
for r in wrong_password disabled_or_departed directory_unavailable empty_password; do
  grep -q "\"reason\":\"$r\"" <<<"$reasons" || fail "no audited failure with reason $r"
done
if grep -aqF "alice-Pw-91" "$GW_LOG"; then fail "a password reached the gateway log"; fi
pass "every login and failure is audited; no password in the log"
