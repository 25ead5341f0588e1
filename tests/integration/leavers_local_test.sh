#!/usr/bin/env bash
# A local user disabled while their real `ssh` session through the gateway is open (real sekishod,
# real sshd host web01, real OpenSSH client, real CLI): the session ends at once with "user
# disabled" (client stderr, session row, audit), their active request is closed and their
# approved and pending ones cancelled (audited with the reason), their key login is refused and
# audited; `sekisho users enable` lets them log in again without reviving the old requests.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
write_ssh_config "$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"

mkdir -p "$TMP/web01"
read -r _ web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
ssh_granted_session "$dir" "$TMP/web01" web01
req_active=$SSH_REQUEST_ID
req_approved=$(cli_as alice request root@web01 --reason "a second window" --duration 2h) || fail "request 2"
cli_as bob approve "$req_approved" >/dev/null || fail "approve 2"
req_pending=$(cli_as alice request root@web01 --reason "a pending one" --duration 1h) || fail "request 3"

# gw_ssh NAME CMD: ssh as alice through the gateway; stdout/stderr in $TMP/NAME.out/.err.
gw_ssh() {
  timeout 60 ssh -T "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" \
    root@web01@127.0.0.1 "$2" >"$TMP/$1.out" 2>"$TMP/$1.err"
}
state_of() { sql "$dir" "SELECT state FROM requests WHERE id = '$1';"; }

# --- a live session when alice is disabled ------------------------------------------------------
mkfifo "$TMP/live.in"
timeout 60 ssh -T "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" \
  root@web01@127.0.0.1 'read line; echo "got $line"' \
  <"$TMP/live.in" >"$TMP/live.out" 2>"$TMP/live.err" &
live_pid=$!
STARTED_PIDS+=("$live_pid")
exec {live_fd}>"$TMP/live.in"
sid=$(wait_open_session audrey alice) || fail "alice's session did not start: $(cat "$TMP/live.err")"
[ "$(state_of "$req_active")" = active ] || fail "request $req_active is not active"

out=$(cli_as op users disable alice) || fail "users disable: $out"
row=$(wait_session_end "$dir" "$sid") || fail "alice's session went on after she was disabled: row $row"
[ "$row" = "ended|user disabled" ] || fail "session row: $row"
rc=0
wait "$live_pid" || rc=$?
exec {live_fd}>&-
live_err=$(cat "$TMP/live.err")
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "ssh exit $rc after the disable: $live_err"
grep -qx 'sekisho: session closed: user disabled' <<<"$live_err" || fail "client stderr: $live_err"
[ "$out" = "user alice disabled: 1 SSH session(s) and 3 request(s) ended, API tokens revoked" ] \
  || fail "users disable output: $out"
pass "disable ended the live session (ssh exit $rc, 'user disabled' on stderr and in the row)"

[ "$(state_of "$req_active")" = closed ] || fail "active request: $(state_of "$req_active")"
[ "$(state_of "$req_approved")" = cancelled ] || fail "approved request: $(state_of "$req_approved")"
[ "$(state_of "$req_pending")" = cancelled ] || fail "pending request: $(state_of "$req_pending")"
for pair in "request.closed:$req_active" "request.cancelled:$req_approved" "request.cancelled:$req_pending"; do
  n=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = '${pair%%:*}' AND actor = 'admin' AND details LIKE '%${pair#*:}%' AND details LIKE '%\"reason\":\"user disabled\"%';")
  [ "$n" -eq 1 ] || fail "audit ${pair%%:*} of ${pair#*:} with reason 'user disabled': $n events"
done
for action in session.close session.end; do
  n=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = '$action' AND details LIKE '%$sid%' AND details LIKE '%\"reason\":\"user disabled\"%';")
  [ "$n" -eq 1 ] || fail "audit $action of $sid with reason 'user disabled': $n events"
done
[ "$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'user.disable' AND actor = 'admin' AND target = 'alice';")" -eq 1 ] \
  || fail "no user.disable event"
pass "active request closed, approved and pending cancelled; each audited with 'user disabled'"

rc=0
gw_ssh refused 'echo should-not-run' || rc=$?
[ "$rc" -eq 255 ] && grep -qF "Permission denied (publickey" "$TMP/refused.err" \
  || fail "key login of a disabled user: exit $rc: $(cat "$TMP/refused.err")"
[ ! -s "$TMP/refused.out" ] || fail "a disabled user's ssh ran something"
n=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'ssh.login' AND actor = 'alice' AND details LIKE '%\"result\":\"failure\"%' AND details LIKE '%\"reason\":\"user_disabled\"%';")
[ "$n" -ge 1 ] || fail "no ssh.login failure with reason user_disabled for alice"
expect_refusal "session expired or revoked" 1 cli_as alice whoami
pass "a disabled user's key login is refused (exit 255) and audited ssh.login failure user_disabled"

# --- enable -------------------------------------------------------------------------------------
expect_refusal "user audrey is not disabled" 1 cli_as op users enable audrey
out=$(cli_as op users enable alice) || fail "users enable: $out"
[ "$out" = "user alice enabled; requests ended by the disable stay ended" ] || fail "enable output: $out"
[ "$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'user.enable' AND actor = 'admin' AND target = 'alice';")" -eq 1 ] \
  || fail "no user.enable event"
login_as alice alice "alice-Password-22" >/dev/null 2>&1 || fail "alice cannot log in after enable"
rc=0
gw_ssh old 'echo old-grant' || rc=$?
[ "$rc" -eq 1 ] && grep -qF "sekisho: no approved request for root@web01; run: sekisho request root@web01" "$TMP/old.err" \
  || fail "ssh after enable with only the old requests: exit $rc: $(cat "$TMP/old.err")"
[ "$(state_of "$req_approved")" = cancelled ] || fail "the old approved request came back"
req_new=$(cli_as alice request root@web01 --reason "after enable" --duration 1h) || fail "new request"
cli_as bob approve "$req_new" >/dev/null || fail "approve new"
gw_ssh back 'echo back-in' || fail "ssh with a new request after enable: $(cat "$TMP/back.err")"
[ "$(cat "$TMP/back.out")" = back-in ] || fail "output after enable: $(cat "$TMP/back.out")"
pass "enable restores login (audited user.enable); old requests stay ended, a new one works"
