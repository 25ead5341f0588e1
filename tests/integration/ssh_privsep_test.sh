#!/usr/bin/env bash
# The session worker's privileges, seen from /proc during a live session through the gateway (real
# sekishod, real sshd host, real OpenSSH client): as root the worker runs as [ssh] worker_user in
# an empty root-owned chroot with NoNewPrivs, holds no handle of the data dir, and its recording
# still verifies. Not root: the worker keeps the daemon's uid (nothing to drop) and says so.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (worker privilege drop)"; exit 0; }

dir="$TMP/var"
init_data_dir "$dir"

# --- a worker_user that does not exist: the gateway refuses to start, one line ----------------
write_ssh_config "$TMP/bad.toml" 'worker_user = "no-such-user-sekisho"'
rc=0
out=$("$SEKISHOD" serve --data-dir "$dir" --config "$TMP/bad.toml" 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "serve with a missing worker_user exited $rc: $out"
grep -qF 'ssh.worker_user "no-such-user-sekisho" does not exist' <<<"$out" || fail "refusal: $out"
pass "a missing [ssh] worker_user: the gateway refuses to start with one line"

write_ssh_config "$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"
log=$(cat "$GW_LOG")
grep -qF "ssh workers run as nobody (uid 65534) in $dir/empty" <<<"$log" || fail "no privileges line: $(tail -3 "$GW_LOG")"

mkdir -p "$TMP/web01"
read -r _ web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
ssh_granted_session "$dir" "$TMP/web01" web01

# A pty session blocked in cat, so the worker is alive while /proc is read (as in
# ssh_gateway_test.sh, the pty keeps cat waiting after the client's stdin ends).
timeout 60 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" \
  -tt root@web01@127.0.0.1 'echo started-$((6*7)); cat' >"$TMP/live.out" 2>"$TMP/live.err" \
  </dev/null &
c_pid=$!
STARTED_PIDS+=("$c_pid")
for _ in $(seq 1 100); do grep -qa "started-42" "$TMP/live.out" && break; sleep 0.1; done
grep -qa "started-42" "$TMP/live.out" || fail "the session did not start: $(cat "$TMP/live.err")"

# The worker: the gateway's child named in its log line, checked against the kernel's child list.
w_pid=$(grep -o 'ssh connection from [^ ]*: worker [0-9]*' "$GW_LOG" | tail -1 | grep -o '[0-9]*$')
status=$(cat "/proc/$w_pid/status")
grep -qE "^PPid:\s+$GW_PID\$" <<<"$status" || fail "worker $w_pid is not the gateway's child: $(grep ^PPid <<<"$status")"
grep -qE '^Uid:\s+65534\s+65534\s+65534\s+65534$' <<<"$status" || fail "Uid: $(grep ^Uid <<<"$status")"
grep -qE '^Gid:\s+65534\s+65534\s+65534\s+65534$' <<<"$status" || fail "Gid: $(grep ^Gid <<<"$status")"
grep -qE '^Groups:\s*$' <<<"$status" || fail "supplementary groups: $(grep ^Groups <<<"$status")"
grep -qE '^NoNewPrivs:\s+1$' <<<"$status" || fail "NoNewPrivs: $(grep ^NoNewPrivs <<<"$status")"
grep -qE '^CapEff:\s+0+$' <<<"$status" || fail "CapEff: $(grep ^CapEff <<<"$status")"
# Mode 2: a seccomp filter (privsep/worker_sandbox.cpp; tests/unit/privsep/worker_sandbox_test.cpp
# shows what it kills). The session above ran under it: the target connection needed no connect().
grep -qE '^Seccomp:\s+2$' <<<"$status" || fail "no seccomp filter: $(grep ^Seccomp <<<"$status")"
limits=$(cat "/proc/$w_pid/limits")
grep -qE '^Max core file size\s+0\s+0\s' <<<"$limits" || fail "core limit: $(grep core <<<"$limits")"
grep -qE '^Max open files\s+32\s+32\s' <<<"$limits" || fail "files limit: $(grep 'open files' <<<"$limits")"
pass "the live worker runs as nobody:nogroup, no groups, no capabilities, NoNewPrivs, seccomp, no core, 32 files"

# Its root is the empty root-owned directory: the data dir (master.key, the store) is not in it.
root=$(readlink "/proc/$w_pid/root")
[ "$root" = "$dir/empty" ] || fail "worker root is $root, not $dir/empty"
[ "$(stat -c '%u %a' "$dir/empty")" = "0 755" ] || fail "empty root: $(stat -c '%u %a' "$dir/empty")"
[ -z "$(ls -A "$dir/empty")" ] || fail "the empty root is not empty: $(ls -A "$dir/empty")"
[ "$(stat -c '%u %a' "$dir/master.key")" = "0 600" ] || fail "master.key mode: $(stat -c '%u %a' "$dir/master.key")"
# Even with a path that reached the data dir, uid 65534 could not read the key: prove it by
# trying as that uid (setpriv, the same ids as the worker).
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups cat "$dir/master.key" >/dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "uid 65534 can read master.key"
pass "the worker's root is $dir/empty (root-owned 0755, empty); master.key is 0600 root"

# Its descriptors: no directory at all, and nothing under the data dir but its own recording.
recording=
for fd in /proc/"$w_pid"/fd/*; do
  target=$(readlink "$fd")
  [ -d "$fd" ] && fail "worker holds a directory: fd $(basename "$fd") -> $target"
  case "$target" in
    "$dir"/recordings/*.skr) recording=$target ;;
    "$dir"*) fail "worker holds $target" ;;
  esac
done
[ -n "$recording" ] || fail "no recording descriptor in the worker: $(ls -l /proc/"$w_pid"/fd)"
[ "$(stat -c '%u %a' "$recording")" = "0 600" ] || fail "recording created by the core 0600: $(stat -c '%u %a' "$recording")"
pass "the worker holds no directory handle; its only data-dir descriptor is its recording"

# End the session: the core finishes its row.
kill "$c_pid" 2>/dev/null || true
wait "$c_pid" 2>/dev/null || true
sid=$(basename "$recording" .skr)
for _ in $(seq 1 100); do
  [ -n "$(sql "$dir" "SELECT ended_at FROM sessions WHERE id = '$sid';")" ] && break
  sleep 0.1
done
[ -n "$(sql "$dir" "SELECT ended_at FROM sessions WHERE id = '$sid';")" ] || fail "session $sid not ended"

rc=0
gw_out=$(timeout 30 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" \
  root@web01@127.0.0.1 'echo privsep-exec-$((6*7)); exit 3' </dev/null 2>&1) || rc=$?
[ "$rc" -eq 3 ] || fail "exec through the gateway: rc $rc: $gw_out"
grep -qx "privsep-exec-42" <<<"$gw_out" || fail "exec output: $gw_out"
e_sid=$(sql "$dir" "SELECT id FROM sessions WHERE id != '$sid' ORDER BY started_at DESC LIMIT 1;")
[ -n "$e_sid" ] || fail "no closed session"
cli_as audrey export "$e_sid" --format skr --out "$TMP/e.skr" >/dev/null || fail "export skr"
env -u SEKISHO_SERVER SEKISHO_HOME="$TMP/nobody-home" "$SEKISHO_CLI" verify "$TMP/e.skr" \
  --public-key "$dir/signing.pub" >"$TMP/v.out" || fail "verify: $(cat "$TMP/v.out")"
v=$(cat "$TMP/v.out")
grep -qE '^result +OK$' <<<"$v" || fail "verify report: $v"
cli_as audrey replay "$e_sid" --speed 1000 --idle-limit 0.01 >"$TMP/replay.out" </dev/null || fail "replay"
grep -qx "privsep-exec-42" "$TMP/replay.out" || fail "replay: $(cat "$TMP/replay.out")"
hash=$(sql "$dir" "SELECT recording_hash FROM sessions WHERE id = '$e_sid';")
[ -n "$hash" ] || fail "session $e_sid has no recording hash"
pass "through the dropped worker: exec status 3 relayed, recording closed, verifies, replays"

# --- the core opened the target connection: its source port is audited and is the one sshd logged
# audit_detail ACTION FIELD [SESSION]: FIELD of the details of the last ACTION event (of SESSION).
audit_detail() {
  sql "$dir" "SELECT details FROM audit_events WHERE action = '$1' AND details LIKE '%${3:-}%' ORDER BY seq DESC LIMIT 1;" |
    json_field - "$2"
}
sport=$(audit_detail session.start target_source_port "$e_sid")
[[ "$sport" =~ ^[0-9]+$ ]] && [ "$sport" -gt 0 ] || fail "session.start of $e_sid has no target_source_port: '$sport'"
gport=$(audit_detail ssh.grant_used target_source_port)
[ "$gport" = "$sport" ] || fail "ssh.grant_used port $gport, session.start port $sport"
[ "$(audit_detail ssh.grant_used target_address)" = "127.0.0.1:$(cat "$TMP/web01/port")" ] ||
  fail "ssh.grant_used target_address: $(audit_detail ssh.grant_used target_address)"
grep -qE "Accepted password for root from 127\.0\.0\.1 port $sport ssh2" "$TMP/web01/sshd.log" ||
  fail "sshd logged no login from port $sport: $(grep Accepted "$TMP/web01/sshd.log" | tail -3)"
pass "the audited target_source_port $sport is the port web01's sshd logged for the login"

# --- a target that cannot be reached: the core's connect fails; same refusal and audit as before
mkdir -p "$TMP/web02"
read -r web02_port web02_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web02" web02)
STARTED_PIDS+=("$web02_pid")
cli_as op hosts add web02 --address "127.0.0.1:$web02_port" >/dev/null || fail "hosts add web02"
printf '%s\n' "Root-Vaulted-$RANDOM$RANDOM-pw" | cli_as op accounts add root@web02 --password-stdin \
  >/dev/null || fail "accounts add root@web02"
id02=$(cli_as alice request root@web02 --reason "unreachable target" --duration 1h) || fail "request"
cli_as bob approve "$id02" >/dev/null || fail "approve"
bash "$harness/sshd_host.sh" stop "$TMP/web02"
expect_refusal "sekisho: cannot reach the target host: Connection refused" 1 \
  timeout 30 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" root@web02@127.0.0.1 'id'
[ "$(audit_detail ssh.target_failed detail)" = "connect to 127.0.0.1:$web02_port: Connection refused" ] ||
  fail "ssh.target_failed: $(audit_detail ssh.target_failed detail)"
pass "an unreachable target: 'cannot reach the target host' on stderr, audited ssh.target_failed"

stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway exit $GW_RC"
