#!/usr/bin/env bash
# Leavers and lost roles with a real slapd directory (LDAPS), a real sekishod with
# [directory] recheck = "1s", a real sshd host web01 and the real OpenSSH client and CLI:
# - bob is marked departed in slapd while his ssh session is open: within a bounded wait the
#   session ends with "user disabled" (stderr, row, audit), his request is closed, his API token
#   revoked, user.cut_off audited, and his key login is refused afterwards (audited ssh.login
#   failure, reason disabled_or_departed);
# - carol, removed from the approver group, can no longer approve once the recheck ran;
# - slapd stopped: alice's new key login is refused (reason directory_unavailable) while her live
#   session goes on to a normal end, and rescue, a local break-glass user beside the directory,
#   still logs in (API and key) and opens a break-glass session.
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
recheck = "1s"
[roles]
requester = ["cn=pam-requesters,ou=groups,$base"]
approver = ["cn=pam-approvers,ou=groups,$base"]
auditor = ["cn=pam-auditors,ou=groups,$base", "cn=pam-legacy-auditors,ou=groups,$base"]
operator = ["cn=pam-operators,ou=groups,$base"]
[auth]
max_failures = 1000
[[policy]]
name = "all"
hosts = ["*"]
requesters = ["role:requester"]
approvers = ["role:approver"]
approvals = 1
max_duration = "4h"
[break_glass]
members = ["user:rescue"]
TOML
start_ssh_gateway "$dir" "$TMP/c.toml"

# ldap_modify: applies the LDIF on stdin as the directory's administrator (the test plays HR).
ldap_modify() {
  ldapmodify -x -H "$SLAPD_URL" -D "cn=admin,$base" -y "$TMP/slapd/root.pw" >/dev/null \
    || fail "ldapmodify failed"
}
roles_of() { json_rows - roles | sort | paste -sd,; }  # whoami --json on stdin
state_of() { sql "$dir" "SELECT state FROM requests WHERE id = '$1';"; }
# start_session NAME: `ssh … 'read line; echo "got $line"'` as NAME in the background, its stdin
# the fifo $TMP/NAME.in (the caller holds it open); sets PID_<NAME>.
start_session() {
  mkfifo "$TMP/$1.in"
  timeout 120 ssh -T "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/$1.key" \
    root@web01@127.0.0.1 'read line; echo "got $line"' \
    <"$TMP/$1.in" >"$TMP/$1.out" 2>"$TMP/$1.err" &
  printf -v "PID_$1" '%s' "$!"
  STARTED_PIDS+=("$!")
}
# key_login NAME: one ssh as NAME that should be refused; its exit status in KEY_RC.
key_login() {
  KEY_RC=0
  timeout 60 ssh -T "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/$1.key" \
    root@web01@127.0.0.1 'echo should-not-run' \
    </dev/null >"$TMP/$1-late.out" 2>"$TMP/$1-late.err" || KEY_RC=$?
}
ssh_login_failures() {  # USER REASON: count of audited ssh.login failures
  sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'ssh.login' AND actor = '$1' AND details LIKE '%\"result\":\"failure\"%' AND details LIKE '%\"reason\":\"$2\"%';"
}

for who in alice:alice-Pw-91 bob:bob-Pw-92 carol:carol-Pw-93 mallory:mallory-Pw-96; do
  login_as "${who%%:*}" "${who%%:*}" "${who#*:}" >/dev/null 2>&1 || fail "login ${who%%:*}"
done
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
ROOT_PW="Root-Vaulted-$RANDOM$RANDOM-pw"
printf '%s\n' "$ROOT_PW" | bash "$harness/sshd_host.sh" passwd "$TMP/web01" root || fail "passwd root"
cli_as alice hosts add web01 --address "127.0.0.1:$web_port" >/dev/null || fail "hosts add"
printf '%s\n' "$ROOT_PW" | cli_as alice accounts add root@web01 --password-stdin >/dev/null || fail "accounts add"
for who in alice bob; do
  ssh-keygen -q -t ed25519 -N '' -C "$who" -f "$TMP/$who.key" </dev/null
  cli_as "$who" keys add "$TMP/$who.key.pub" >/dev/null || fail "keys add $who"
  rid=$(cli_as "$who" request root@web01 --reason "leavers test" --duration 1h) || fail "request $who"
  cli_as carol approve "$rid" >/dev/null || fail "carol (still an approver) approves $who's request"
  printf -v "REQ_$who" '%s' "$rid"
done

start_session bob
exec {FD_bob}>"$TMP/bob.in"
start_session alice
exec {FD_alice}>"$TMP/alice.in"
sid_bob=$(wait_open_session mallory bob) || fail "bob's session did not start: $(cat "$TMP/bob.err")"
sid_alice=$(wait_open_session mallory alice) || fail "alice's session did not start: $(cat "$TMP/alice.err")"

# --- bob leaves ----------------------------------------------------------------------------------
ldap_modify <<LDIF
dn: uid=bob,ou=people,$base
changetype: modify
add: employeeType
employeeType: departed
LDIF
row=$(wait_session_end "$dir" "$sid_bob" 200) || fail "bob's session went on after he was marked departed: row $row"
[ "$row" = "ended|user disabled" ] || fail "bob's session row: $row"
rc=0
wait "$PID_bob" || rc=$?
exec {FD_bob}>&-
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "bob's ssh exit $rc: $(cat "$TMP/bob.err")"
grep -qx 'sekisho: session closed: user disabled' "$TMP/bob.err" || fail "bob's stderr: $(cat "$TMP/bob.err")"
[ "$(state_of "$REQ_bob")" = closed ] || fail "bob's request: $(state_of "$REQ_bob")"
n=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'user.cut_off' AND target = 'bob' AND details LIKE '%\"reason\":\"departed in the directory\"%';")
[ "$n" -eq 1 ] || fail "user.cut_off events for bob: $n"
for action in session.close session.end; do
  n=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = '$action' AND details LIKE '%$sid_bob%' AND details LIKE '%\"reason\":\"user disabled\"%';")
  [ "$n" -eq 1 ] || fail "audit $action of bob's session with reason 'user disabled': $n"
done
n=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'request.closed' AND details LIKE '%$REQ_bob%' AND details LIKE '%\"reason\":\"user disabled\"%';")
[ "$n" -eq 1 ] || fail "audit request.closed of bob's request: $n"
expect_refusal "session expired or revoked" 1 cli_as bob whoami
pass "departed in slapd: bob's live session ended 'user disabled' (ssh exit $rc), request closed, token revoked, audited"

key_login bob
[ "$KEY_RC" -eq 255 ] && grep -qF "Permission denied (publickey" "$TMP/bob-late.err" \
  || fail "bob's key login after leaving: exit $KEY_RC: $(cat "$TMP/bob-late.err")"
[ ! -s "$TMP/bob-late.out" ] || fail "bob's late ssh ran something"
[ "$(ssh_login_failures bob disabled_or_departed)" -ge 1 ] || fail "no ssh.login failure disabled_or_departed for bob"
pass "bob's key login is refused (exit 255) and audited ssh.login failure disabled_or_departed"

# --- carol is demoted -----------------------------------------------------------------------------
REQ_late=$(cli_as alice request root@web01 --reason "needs a review" --duration 1h) || fail "request late"
ldap_modify <<LDIF
dn: cn=pam-approvers,ou=groups,$base
changetype: modify
delete: member
member: uid=carol,ou=people,$base
LDIF
roles=
for _ in $(seq 1 100); do
  roles=$(cli_as carol --json whoami | roles_of)
  [ "$roles" = auditor,requester ] && break
  sleep 0.1
done
[ "$roles" = auditor,requester ] || fail "carol's token roles after the demotion: $roles"
expect_refusal "carol is not an approver for web01" 1 cli_as carol approve "$REQ_late"
[ "$(state_of "$REQ_late")" = pending ] || fail "the late request: $(state_of "$REQ_late")"
n=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'user.roles_reduced' AND target = 'carol';")
[ "$n" -ge 1 ] || fail "no user.roles_reduced event for carol"
n=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'request.refused' AND actor = 'carol' AND details LIKE '%not an approver%';")
[ "$n" -eq 1 ] || fail "request.refused events for carol: $n"
pass "removed from the approver group, carol cannot approve after the recheck (audited)"

# --- the directory goes down ----------------------------------------------------------------------
bash "$harness/slapd.sh" stop "$TMP/slapd" >/dev/null
key_login alice
[ "$KEY_RC" -eq 255 ] && grep -qF "Permission denied (publickey" "$TMP/alice-late.err" \
  || fail "alice's new key login with the directory down: exit $KEY_RC: $(cat "$TMP/alice-late.err")"
[ "$(ssh_login_failures alice directory_unavailable)" -ge 1 ] || fail "no ssh.login failure directory_unavailable for alice"
# A recheck pass must run with the directory down (its warning in the log) and leave the live
# session alone.
seen=
for _ in $(seq 1 100); do
  grep -q 'directory recheck: the directory could not answer' "$GW_LOG" && { seen=1; break; }
  sleep 0.1
done
[ -n "$seen" ] || fail "no recheck pass with the directory down: $(tail -3 "$GW_LOG")"
printf 'still-here-%s\n' 7 >&"$FD_alice"
exec {FD_alice}>&-
rc=0
wait "$PID_alice" || rc=$?
[ "$rc" -eq 0 ] || fail "alice's live session exit $rc: $(cat "$TMP/alice.err")"
[ "$(cat "$TMP/alice.out")" = "got still-here-7" ] || fail "alice's output: $(cat "$TMP/alice.out")"
row=$(wait_session_end "$dir" "$sid_alice" 200) || fail "alice's row did not end: $row"
[ "$row" = "ended|exit 0" ] || fail "alice's session row: $row"
pass "directory down: a new key login is refused (directory_unavailable), the live session goes on to exit 0"

# Break-glass beside the directory: rescue, a local account created by the operator (whose token
# outlives the outage), logs in (the store checks a local password), registers a key, files a
# break-glass request and gets in, all while slapd is down.
printf '%s\n' "rescue-Initial-pw1" |
  cli_as alice users add rescue --roles requester --password-stdin >/dev/null || fail "users add rescue"
login_as rescue rescue rescue-Initial-pw1 rescue-Password-22 >/dev/null 2>"$TMP/rescue.err" \
  || fail "the local user rescue cannot log in with the directory down: $(cat "$TMP/rescue.err")"
ssh-keygen -q -t ed25519 -N '' -C rescue -f "$TMP/rescue.key" </dev/null
cli_as rescue keys add "$TMP/rescue.key.pub" >/dev/null || fail "keys add rescue"
rid=$(cli_as rescue request root@web01 --reason "directory outage" --break-glass 2>"$TMP/bg.err") \
  || fail "rescue's break-glass request"
[ "$(state_of "$rid")" = approved ] || fail "break-glass request: $(state_of "$rid")"
timeout 60 ssh -T "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/rescue.key" \
  root@web01@127.0.0.1 'echo rescue-in' </dev/null >"$TMP/rescue.out" \
  2>"$TMP/rescue-ssh.err" || fail "rescue's ssh with the directory down: $(cat "$TMP/rescue-ssh.err")"
[ "$(cat "$TMP/rescue.out")" = rescue-in ] || fail "rescue's output: $(cat "$TMP/rescue.out")"
pass "directory down: the local break-glass user rescue logs in, files break-glass, and gets in"
