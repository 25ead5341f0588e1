#!/usr/bin/env bash
# The SSH gateway end to end with real parts: a real sekishod (SSH listener on a kernel-chosen
# loopback port), a real sshd "host" web01 whose root password only the vault knows, the real
# OpenSSH client with keys registered through the real CLI. Request → approval → ssh as
# root@web01@gateway runs commands (exit status, pty shell), the session is listed, replayed,
# exported and verified offline; refusals (no/pending/other's request, unregistered key, -W, -L,
# a re-keyed target, a password changed on the target) each print their reason and are audited;
# the root password appears nowhere.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
write_ssh_config "$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"

login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 || fail "operator login"
add_users alice:requester mallory:requester bob:approver audrey:auditor

# web01: a real sshd; root's password is set inside the host and vaulted, never shown.
ROOT_PW="Root-Vaulted-$RANDOM$RANDOM-pw"
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
printf '%s\n' "$ROOT_PW" | bash "$harness/sshd_host.sh" passwd "$TMP/web01" root || fail "passwd root"
cli_as op hosts add web01 --address "127.0.0.1:$web_port" >/dev/null || fail "hosts add web01"
printf '%s\n' "$ROOT_PW" | cli_as op accounts add root@web01 --password-stdin >/dev/null || fail "accounts add"

for who in alice mallory stranger; do
  ssh-keygen -q -t ed25519 -N '' -C "$who" -f "$TMP/$who.key" </dev/null
done
cli_as alice keys add "$TMP/alice.key.pub" >/dev/null || fail "keys add alice"
cli_as mallory keys add "$TMP/mallory.key.pub" >/dev/null || fail "keys add mallory"

# gw_ssh KEY ARGS...: the real OpenSSH client through the gateway, no user config, bounded.
gw_ssh() {
  local key=$1
  shift
  timeout 30 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/$key.key" "$@"
}
# expect_ssh_refusal NEEDLE KEY ARGS...: ssh fails and says NEEDLE on stderr.
expect_ssh_refusal() {
  local needle=$1 rc=0
  shift
  gw_ssh "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
  [ "$rc" -ne 0 ] || fail "ssh $* succeeded; wanted a refusal ($needle)"
  grep -qF -- "$needle" "$TMP/err" || fail "ssh $*: stderr lacks '$needle': $(cat "$TMP/err"); gateway: $(tail -5 "$GW_LOG")"
  cat "$TMP/err" >>"$TMP/all-output"
}

# --- refusals before a grant ---------------------------------------------------------------------
hint="no approved request for root@web01; run: sekisho request root@web01 --reason"
expect_ssh_refusal "$hint" alice root@web01@127.0.0.1 'id -un'
id=$(cli_as alice request root@web01 --reason "patch openssl" --duration 1h) || fail "request"
expect_ssh_refusal "$hint" alice root@web01@127.0.0.1 'id -un'
cli_as bob approve "$id" >/dev/null || fail "approve"
expect_ssh_refusal "$hint" mallory root@web01@127.0.0.1 'id -un'
expect_ssh_refusal "Permission denied" stranger root@web01@127.0.0.1 'id -un'
[ "$(audit_count "$dir" ssh.refused 'no approved request')" -ge 3 ] || fail "refusals not audited"
[ "$(audit_count "$dir" ssh.login 'key not registered')" -ge 1 ] || fail "unregistered key not audited"
pass "no request, pending request, someone else's request, unregistered key: refused with a reason, audited"

# --- the granted session ---------------------------------------------------------------------
rc=0
gw_ssh alice root@web01@127.0.0.1 'id -un; echo to-stderr >&2; exit 42' >"$TMP/exec.out" 2>"$TMP/exec.err" </dev/null || rc=$?
cat "$TMP/exec.out" "$TMP/exec.err" >>"$TMP/all-output"
[ "$rc" -eq 42 ] || fail "exit status $rc (wanted 42); stderr: $(cat "$TMP/exec.err")"
[ "$(cat "$TMP/exec.out")" = root ] || fail "stdout: $(cat "$TMP/exec.out")"
grep -qx to-stderr "$TMP/exec.err" || fail "stderr not relayed: $(cat "$TMP/exec.err")"
marker="pty-marker-$RANDOM$RANDOM"
gw_ssh alice -tt root@web01@127.0.0.1 >"$TMP/pty.out" 2>&1 <<<"echo \"\$(tty) $marker\"; stty size; exit 7" && rc=0 || rc=$?
cat "$TMP/pty.out" >>"$TMP/all-output"
[ "$rc" -eq 7 ] || fail "pty shell exit $rc: $(cat "$TMP/pty.out")"
grep -qE "/dev/pts/[0-9]+ $marker" "$TMP/pty.out" && grep -qE "^24 80" "$TMP/pty.out" || fail "pty shell output: $(cat "$TMP/pty.out")"
[ "$(sql "$dir" "SELECT state FROM requests WHERE id = '$id';")" = active ] || fail "request not active"
pass "ssh root@web01@gateway: exec (stdout, stderr, exit 42) and a pty shell run as root on web01"

# --- the recording ------------------------------------------------------------------------------
cli_as audrey --json sessions --user alice >"$TMP/sessions.json" || fail "sessions"
rows=$(json_rows "$TMP/sessions.json" sessions started_at id host account state | sort | cut -f2-)
[ "$(wc -l <<<"$rows")" -eq 2 ] && [ "$(cut -f2- <<<"$rows" | sort -u)" = "web01"$'\t'"root"$'\t'"closed" ] ||
  fail "sessions listing: $(cat "$TMP/sessions.json")"
read -r sid_exec sid_pty < <(cut -f1 <<<"$rows" | paste -sd' ')
cli_as audrey replay "$sid_exec" --speed 1000 --idle-limit 0.01 >"$TMP/replay.out" </dev/null || fail "replay"
grep -qx root "$TMP/replay.out" || fail "replay lacks the output: $(cat "$TMP/replay.out")"
cli_as audrey export "$sid_pty" --format asciicast --out "$TMP/pty.cast" >/dev/null || fail "export"
script -q -e -c "asciinema cat '$TMP/pty.cast'" "$TMP/cat.out" </dev/null >/dev/null \
  || fail "asciinema cat refused the export"
grep -qaF "$marker" "$TMP/cat.out" || fail "asciinema cat lacks the marker"
cli_as audrey export "$sid_pty" --format skr --out "$TMP/pty.skr" >/dev/null || fail "export skr"
env -u SEKISHO_SERVER SEKISHO_HOME="$TMP/nobody" "$SEKISHO_CLI" verify "$TMP/pty.skr" \
  --public-key "$dir/signing.pub" >"$TMP/v.out" || fail "verify: $(cat "$TMP/v.out")"
grep -qE '^result +OK$' "$TMP/v.out" || fail "verify report: $(cat "$TMP/v.out")"
hash=$(sql "$dir" "SELECT recording_hash FROM sessions WHERE id = '$sid_pty';")
[ -n "$hash" ] && [ "$(audit_count "$dir" session.end "$hash")" -eq 1 ] || fail "session.end lacks the hash $hash"
for f in "$dir/recordings/$sid_pty.skr.seek" "$dir/recordings/$sid_pty.skr.text"; do
  [ -s "$f" ] || fail "the core wrote no index file $f: $(ls "$dir/recordings"; tail -5 "$GW_LOG")"
done
cli_as audrey --json sessions search "$marker" >"$TMP/search.json" || fail "sessions search"
grep -qF "$sid_pty" "$TMP/search.json" || fail "search by the text index misses: $(cat "$TMP/search.json")"
pass "sessions lists both; replay and asciinema show the output; the .skr verifies with signing.pub; index files written and searched"

# --- a worker killed mid-session ---------------------------------------------------------------
# A pty session blocked in cat (a lost connection hangs up its pty on the target, so nothing
# outlives the test); SIGKILL its worker: the core ends the session row, the gateway keeps serving.
gw_ssh alice -tt root@web01@127.0.0.1 'echo started-$((6*7)); cat' >"$TMP/kill.out" 2>"$TMP/kill.err" </dev/null &
k_pid=$!
STARTED_PIDS+=("$k_pid")
for _ in $(seq 1 100); do grep -qa "started-42" "$TMP/kill.out" && break; sleep 0.1; done
grep -qa "started-42" "$TMP/kill.out" || fail "the session to kill did not start: $(cat "$TMP/kill.err")"
w_pid=$(grep -o 'ssh connection from [^ ]*: worker [0-9]*' "$GW_LOG" | tail -1 | grep -o '[0-9]*$')
kill -KILL "$w_pid"
wait "$k_pid" 2>/dev/null || true
for _ in $(seq 1 50); do
  read -r k_state k_sid < <(newest_session audrey alice state id)
  [ "$k_state" = incomplete ] && break
  sleep 0.1
done
[ "$k_state" = incomplete ] || fail "killed worker's session is $k_state"
sql "$dir" "SELECT end_reason FROM sessions WHERE id = '$k_sid';" | grep -qF "worker ended without closing" \
  || fail "end reason of the killed session"
[ "$k_sid" != "$sid_pty" ] || fail "no new session for the killed worker"
# The core sealed what the dead worker recorded: the file verifies and says why it was cut.
k_hash=$(sql "$dir" "SELECT recording_hash FROM sessions WHERE id = '$k_sid';")
[ -n "$k_hash" ] && [ "$(audit_count "$dir" session.end "$k_hash")" -eq 1 ] || fail "no session.end with the seal's hash"
cli_as audrey export "$k_sid" --format skr --out "$TMP/killed.skr" >/dev/null || fail "export killed"
env -u SEKISHO_SERVER SEKISHO_HOME="$TMP/nobody" "$SEKISHO_CLI" verify "$TMP/killed.skr" \
  --public-key "$dir/signing.pub" >"$TMP/kv.out" || fail "verify of the sealed recording: $(cat "$TMP/kv.out")"
grep -q "^session cut because its worker died at .*; the file is exactly what the gateway recorded" "$TMP/kv.out" \
  || fail "verify does not say the worker died: $(cat "$TMP/kv.out")"
pass "a killed worker's session ends as incomplete in the store; its recording is sealed and verifies"

# --- tunnels are refused -----------------------------------------------------------------------
expect_ssh_refusal "administratively prohibited" alice -W 127.0.0.1:"$web_port" root@web01@127.0.0.1
[ "$(audit_count "$dir" ssh.refused direct-tcpip)" -ge 1 ] || fail "-W not audited"
lport=$(free_port)
gw_ssh alice -N -L "$lport:127.0.0.1:$web_port" root@web01@127.0.0.1 </dev/null >"$TMP/L.out" 2>"$TMP/L.err" &
l_pid=$!
STARTED_PIDS+=("$l_pid")
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$lport" && timeout 2 cat <&3 >/dev/null) 2>/dev/null && break
  sleep 0.1
done
for _ in $(seq 1 50); do
  grep -qF "administratively prohibited" "$TMP/L.err" && break
  sleep 0.1
done
kill -TERM "$l_pid" 2>/dev/null || true
wait "$l_pid" 2>/dev/null || true
grep -qF "administratively prohibited" "$TMP/L.err" || fail "-L: $(cat "$TMP/L.err")"
[ "$(audit_count "$dir" ssh.refused direct-tcpip)" -ge 2 ] || fail "-L not audited"
expect_ssh_refusal "remote port forwarding failed" alice -N -o ExitOnForwardFailure=yes \
  -R "0:127.0.0.1:$web_port" root@web01@127.0.0.1
[ "$(audit_count "$dir" ssh.refused tcpip-forward)" -ge 1 ] || fail "-R not audited"
# -A needs an agent on the client side: a real ssh-agent in the foreground, stopped by PID.
ssh-agent -D -a "$TMP/agent.sock" >/dev/null 2>&1 &
STARTED_PIDS+=("$!")
for _ in $(seq 1 50); do [ -S "$TMP/agent.sock" ] && break; sleep 0.1; done
rc=0
SSH_AUTH_SOCK="$TMP/agent.sock" gw_ssh alice -A root@web01@127.0.0.1 'echo agent=${SSH_AUTH_SOCK:-none}' >"$TMP/A.out" 2>"$TMP/A.err" </dev/null || rc=$?
[ "$rc" -eq 0 ] && grep -qx "agent=none" "$TMP/A.out" || fail "-A: rc $rc $(cat "$TMP/A.out" "$TMP/A.err")"
grep -qF "agent forwarding is refused" "$TMP/A.err" || fail "-A gave no message: $(cat "$TMP/A.err")"
[ "$(audit_count "$dir" ssh.refused 'agent forwarding')" -ge 1 ] || fail "-A not audited"
pass "-W, -L, -R and -A are refused with a message and audited"

# --- root's password is changed on the target outside the gateway ------------------------------
printf 'Changed-Outside-%s\n' "$RANDOM$RANDOM" | bash "$harness/sshd_host.sh" passwd "$TMP/web01" root ||
  fail "passwd root on web01"
expect_ssh_refusal "sekisho: the target refused the vaulted credential" alice root@web01@127.0.0.1 'id -un'
[ "$(audit_count "$dir" ssh.target_failed 'the target refused the vaulted credential')" -eq 1 ] ||
  fail "refused vaulted credential not audited"
log_line=$(grep -F "the target refused the vaulted credential" "$GW_LOG" || true)
grep -qF "to root@web01" <<<"$log_line" || fail "refused vaulted credential not logged: $(tail -5 "$GW_LOG")"
pass "a vaulted password changed on the target is reported as refused, audited and logged"

# --- the target's host key changes -------------------------------------------------------------
rm -f "$TMP/web01"/ssh_host_*_key*
for t in ed25519 ecdsa; do ssh-keygen -q -t "$t" -N '' -f "$TMP/web01/ssh_host_${t}_key" </dev/null; done
: >"$TMP/web01/sshd.log"
kill -HUP "$web_pid"
for _ in $(seq 1 100); do
  grep -qF "Server listening on 127.0.0.1 port $web_port" "$TMP/web01/sshd.log" && break
  sleep 0.05
done
expect_ssh_refusal "does not match the key pinned at registration" alice root@web01@127.0.0.1 'id -un'
[ "$(audit_count "$dir" ssh.host_key_mismatch SHA256)" -eq 1 ] || fail "host key mismatch not audited"
# The core refused the credential itself: the worker reports nothing more (no failed login to
# audit twice, and no message the ended conversation would take as a protocol violation).
[ "$(audit_count "$dir" ssh.protocol_violation '')" -eq 0 ] ||
  fail "a worker was audited as breaking the protocol: $(sql "$dir" "SELECT details FROM audit_events WHERE action = 'ssh.protocol_violation';")"
[ "$(audit_count "$dir" ssh.target_failed '')" -eq 1 ] || fail "the host key refusal was also audited as a failed login"
pass "a re-keyed target is refused and audited"

stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway exit $GW_RC"
actions=$(audit_actions "$dir")
for a in ssh.login ssh.refused ssh.grant_used request.active session.start session.end \
  ssh.host_key_mismatch; do
  grep -qx "$a" <<<"$actions" || fail "no $a in the audit log"
done
sql "$dir" "SELECT * FROM audit_events;" >"$TMP/audit.txt"
if grep -rqF "$ROOT_PW" "$GW_LOG" "$TMP/audit.txt" "$TMP/all-output" "$TMP"/*.out "$TMP"/*.err \
  "$TMP/cat.out" "$TMP/pty.cast"; then
  fail "the vaulted root password appears in an output, log or audit detail"
fi
pass "audit has logins, refusals, grant use, session start/end, host key mismatch; no password anywhere"
