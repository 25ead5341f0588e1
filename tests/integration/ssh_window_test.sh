#!/usr/bin/env bash
# The end of live SSH sessions with real parts (real sekishod, real sshd host web01, real OpenSSH
# client, real CLI): a session under a short request is warned [ssh] warn_before ahead, closed at
# the window end with the reason on the client's stderr, recorded with markers, its row ended with
# that reason and the request closed; `sekisho sessions kill` ends one live session (auditor),
# leaves a concurrent one alone, and is refused to a requester and for an unknown id.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
write_ssh_config "$TMP/c.toml" "warn_before = \"6s\""
start_ssh_gateway "$dir" "$TMP/c.toml"

login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 || fail "operator login"
add_users alice:requester carol:requester bob:approver audrey:auditor

ROOT_PW="Root-Vaulted-$RANDOM$RANDOM-pw"
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
printf '%s\n' "$ROOT_PW" | bash "$harness/sshd_host.sh" passwd "$TMP/web01" root || fail "passwd root"
cli_as op hosts add web01 --address "127.0.0.1:$web_port" >/dev/null || fail "hosts add web01"
printf '%s\n' "$ROOT_PW" | cli_as op accounts add root@web01 --password-stdin >/dev/null || fail "accounts add"
for who in alice carol; do
  ssh-keygen -q -t ed25519 -N '' -C "$who" -f "$TMP/$who.key" </dev/null
  cli_as "$who" keys add "$TMP/$who.key.pub" >/dev/null || fail "keys add $who"
done

# start_session NAME KEY: `ssh … 'read line; echo "got $line"'` through the gateway in the
# background, its stdin a fifo held open on descriptor FD_<NAME>; sets PID_<NAME>.
start_session() {
  local name=$1 key=$2
  mkfifo "$TMP/$name.in"
  timeout 60 ssh -T "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/$key.key" \
    root@web01@127.0.0.1 'read line; echo "got $line"' \
    <"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  printf -v "PID_$name" '%s' "$!"
  STARTED_PIDS+=("$!")
}

# --- the window ends ---------------------------------------------------------------------------
id=$(cli_as alice request root@web01 --reason "short maintenance" --duration 14s) || fail "request"
cli_as bob approve "$id" >/dev/null || fail "approve"
start_session win alice
exec {FD_win}>"$TMP/win.in"
sid=$(wait_open_session audrey alice) || fail "the window session did not start: $(cat "$TMP/win.err")"
rc=0
wait "$PID_win" || rc=$?
exec {FD_win}>&-
win_err=$(cat "$TMP/win.err")
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "ssh exit $rc at the window end (124: not closed): $win_err"
grep -qE '^sekisho: your approved window for root@web01 ends in [0-9]+ s \(at [0-9:]+ UTC\)$' <<<"$win_err" \
  || fail "no warning on the client's stderr: $win_err"
grep -qx 'sekisho: session closed: approved window ended' <<<"$win_err" \
  || fail "no close line on the client's stderr: $win_err"
[ "$(grep -c 'approved window' <<<"$win_err")" -eq 2 ] || fail "warned more than once: $win_err"
row=$(wait_session_end "$dir" "$sid") || fail "the session row did not end: $row"
[ "$row" = "ended|approved window ended" ] || fail "session row: $row"
state=
for _ in $(seq 1 50); do
  state=$(sql "$dir" "SELECT state FROM requests WHERE id = '$id';")
  [ "$state" = closed ] && break
  sleep 0.1
done
[ "$state" = closed ] || fail "request state $state after its window"
pass "warned on stderr, closed at the window end (ssh exit $rc), row ended 'approved window ended', request closed"

cli_as audrey export "$sid" --format skr --out "$TMP/win.skr" >/dev/null || fail "export skr"
verify_out=$(env -u SEKISHO_SERVER SEKISHO_HOME="$TMP/nobody" "$SEKISHO_CLI" verify "$TMP/win.skr" \
  --public-key "$dir/signing.pub") || fail "verify: $verify_out"
grep -qE '^result +OK$' <<<"$verify_out" || fail "verify report: $verify_out"
cli_as audrey export "$sid" --format asciicast --out "$TMP/win.cast" >/dev/null || fail "export cast"
cast=$(cat "$TMP/win.cast")
grep -qF '"m", "notice: sekisho: your approved window for root@web01 ends in' <<<"$cast" \
  || grep -qF '"m","notice: sekisho: your approved window for root@web01 ends in' <<<"$cast" \
  || fail "no warning marker in the recording: $cast"
grep -qF 'session closed: approved window ended' <<<"$cast" || fail "no close marker: $cast"
events=$(sql "$dir" "SELECT action FROM audit_events WHERE (action IN ('session.start', 'session.warned', 'session.close', 'session.end') AND details LIKE '%$sid%') OR (action = 'request.closed' AND details LIKE '%$id%') ORDER BY seq;" | tr '\n' ' ')
# The request sweep and the window check both act at the window end: request.closed may come
# before or after the session's close, never before the warning.
[ "$(sed 's/request.closed //' <<<"$events")" = "session.start session.warned session.close session.end " ] \
  && grep -qE '^session.start session.warned .*request.closed' <<<"$events" \
  || fail "audit events: $events"
pass "the recording verifies and holds both markers; audit: $events"

# After the window: the same request grants nothing; a new login is refused with the hint.
rc=0
timeout 30 ssh -T "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" \
  root@web01@127.0.0.1 'id -un' </dev/null >"$TMP/late.out" 2>"$TMP/late.err" || rc=$?
late_err=$(cat "$TMP/late.err")
[ "$rc" -eq 1 ] && grep -qF "sekisho: no approved request for root@web01; run: sekisho request root@web01" <<<"$late_err" ||
  fail "ssh after the window: exit $rc: $late_err"
[ ! -s "$TMP/late.out" ] || fail "ssh after the window ran something: $(cat "$TMP/late.out")"
refusals=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'ssh.refused' AND actor = 'alice' AND details LIKE '%no approved request%';")
[ "$refusals" -eq 1 ] || fail "$refusals ssh.refused events for alice after the window, wanted 1"
pass "after the window ends a new ssh is refused with the request hint (exit 1) and audited"

# --- kill ---------------------------------------------------------------------------------------
for who in alice carol; do
  rid=$(cli_as "$who" request root@web01 --reason "kill test" --duration 1h) || fail "request $who"
  cli_as bob approve "$rid" >/dev/null || fail "approve $who"
done
start_session ka alice
exec {FD_ka}>"$TMP/ka.in"
start_session kc carol
exec {FD_kc}>"$TMP/kc.in"
sid_a=$(wait_open_session audrey alice) || fail "alice's session did not start: $(cat "$TMP/ka.err")"
sid_c=$(wait_open_session audrey carol) || fail "carol's session did not start: $(cat "$TMP/kc.err")"

rc=0
out=$(cli_as alice sessions kill "$sid_a" --reason "try" 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -qi "forbidden\|role\|not allowed\|permission" <<<"$out" \
  || fail "a requester's kill: exit $rc: $out"
rc=0
out=$(cli_as audrey sessions kill "sess-unknown-0000" --reason "nothing" 2>&1) || rc=$?
[ "$rc" -eq 1 ] && grep -qF "no live SSH session sess-unknown-0000" <<<"$out" \
  || fail "kill of an unknown id: exit $rc: $out"
rc=0
out=$(cli_as audrey sessions kill "$sid_a" 2>&1) || rc=$?
[ "$rc" -eq 2 ] || fail "kill without --reason: exit $rc: $out"
pass "kill refused to a requester (exit 1), for an unknown id (exit 1), without --reason (exit 2)"

out=$(cli_as audrey sessions kill "$sid_a" --reason "suspicious activity") || fail "kill: $out"
grep -qF "killed by audrey: suspicious activity" <<<"$out" || fail "kill output: $out"
rc=0
wait "$PID_ka" || rc=$?
exec {FD_ka}>&-
ka_err=$(cat "$TMP/ka.err")
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "killed ssh exit $rc: $ka_err"
grep -qx 'sekisho: session closed: killed by audrey: suspicious activity' <<<"$ka_err" \
  || fail "no kill line on alice's stderr: $ka_err"
row=$(wait_session_end "$dir" "$sid_a") || fail "killed session row did not end: $row"
[ "$row" = "ended|killed by audrey: suspicious activity" ] || fail "killed session row: $row"
kill_events=$(sql "$dir" "SELECT actor FROM audit_events WHERE action = 'session.kill' AND target = '$sid_a' AND details LIKE '%suspicious activity%' AND details NOT LIKE '%refused%';")
[ "$kill_events" = "audrey" ] || fail "session.kill audit (actor, reason): $kill_events"
refused=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'session.kill' AND details LIKE '%refused%';")
[ "$((10#$refused))" -ge 1 ] || fail "refused kill not audited"

# carol's session is untouched: it still answers its input and ends normally.
printf 'still-here-%s\n' 42 >&"$FD_kc"
exec {FD_kc}>&-
rc=0
wait "$PID_kc" || rc=$?
[ "$rc" -eq 0 ] || fail "carol's session exit $rc: $(cat "$TMP/kc.err")"
kc_out=$(cat "$TMP/kc.out")
[ "$kc_out" = "got still-here-42" ] || fail "carol's output: $kc_out"
row=$(wait_session_end "$dir" "$sid_c") || fail "carol's row did not end: $row"
[ "$row" = "ended|exit 0" ] || fail "carol's session row: $row"
pass "kill closed alice's session with the reason (stderr, row, audit); carol's went on to exit 0"
