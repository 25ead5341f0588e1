#!/usr/bin/env bash
# Unauthenticated connections cannot lock users out: idle TCP connections (no SSH banner) from one
# address (127.0.0.2) are capped by [ssh] per_source_max_startups, so a real `ssh` from another
# address (127.0.0.1) still logs in; a connection that never logs in is closed after
# [ssh] login_grace_time. Real sekishod, real OpenSSH client, raw sockets from python3.
source "$(dirname "$0")/../harness/lib.sh"

dir="$TMP/var"
init_data_dir "$dir"
# max_startups 12 over the default per-source cap of 10: without a per-source cap, 14 idle
# connections from one address would take every slot.
write_ssh_config "$TMP/c.toml" "max_startups = 12"
start_ssh_gateway "$dir" "$TMP/c.toml"
login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 || fail "operator login"
add_users alice:requester mallory:requester
ssh-keygen -q -t ed25519 -N '' -C alice -f "$TMP/alice.key" </dev/null
cli_as alice keys add "$TMP/alice.key.pub" >/dev/null || fail "keys add alice"

# --- a public key registered to one user is refused for another ---------------------------------
fp=$(ssh-keygen -lf "$TMP/alice.key.pub" | cut -d' ' -f2)
sed 's/ alice$/ mallory/' "$TMP/alice.key.pub" >"$TMP/copied.pub"  # another comment, same key
expect_refusal "key $fp is registered to another user; a key identifies one person" 1 \
  cli_as mallory keys add "$TMP/copied.pub"
[ "$(audit_count "$dir" key.add_refused "$fp")" -eq 1 ] || fail "the refused key add is not audited"
[ "$(audit_count "$dir" key.add_refused alice)" -eq 0 ] \
  || fail "the refusal names the key's owner"
pass "keys add of another user's key: refused with the exact message, audited as key.add_refused"

# hold SRC COUNT STATUS STOP: opens COUNT TCP connections from SRC, sends nothing, and keeps them
# until STOP exists (bounded, 60 s). STATUS gets "open N" once all are connected and, on every
# change, "closed K": how many the gateway has closed.
cat >"$TMP/hold.py" <<'PY'
import os, select, socket, sys, time
src, port, count, status, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
socks = [socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
         for _ in range(count)]
def report(text):
    with open(status + ".tmp", "w") as f: f.write(text + "\n")
    os.replace(status + ".tmp", status)
report("open %d" % count)
open_socks, closed, deadline = list(socks), 0, time.time() + 60
while not os.path.exists(stop) and time.time() < deadline:
    ready, _, _ = select.select(open_socks, [], [], 0.1)
    for s in ready:
        if s.recv(4096) == b"":  # EOF: the gateway closed it (an SSH banner is not EOF)
            open_socks.remove(s)
            closed += 1
            report("closed %d" % closed)
PY
# wait_status FILE PATTERN: bounded wait (20 s) for FILE to match PATTERN.
wait_status() {
  for _ in $(seq 1 200); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
gw_ssh() {
  timeout 30 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" "$@"
}

# --- 14 idle connections from 127.0.0.2: 10 held, 4 closed at once; 127.0.0.1 still logs in -----
python3 "$TMP/hold.py" 127.0.0.2 "$SSH_PORT" 14 "$TMP/idle.status" "$TMP/idle.stop" &
hold_pid=$!
STARTED_PIDS+=("$hold_pid")
wait_status "$TMP/idle.status" "open 14|closed" || fail "the idle connections did not open"
wait_status "$TMP/idle.status" "closed 4" || fail "over the per-source cap, not closed: $(cat "$TMP/idle.status")"
before=$(audit_count "$dir" ssh.login '"result":"success"')
rc=0
gw_ssh root@web01@127.0.0.1 'id -un' >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
grep -qF "no approved request for root@web01" "$TMP/err" \
  || fail "ssh from 127.0.0.1 while 127.0.0.2 holds idle connections: exit $rc: $(cat "$TMP/err"); gateway: $(tail -3 "$GW_LOG")"
[ "$(audit_count "$dir" ssh.login '"result":"success"')" -eq $((before + 1)) ] || fail "the login was not audited"
grep -q "closed 4" "$TMP/idle.status" || fail "more idle connections closed than the cap allows: $(cat "$TMP/idle.status")"
grep -qF "refused: too many unauthenticated connections from this address" "$GW_LOG" || fail "the refusal is not logged"
[ "$(audit_count "$dir" ssh.refused 'too many unauthenticated connections from this address')" -eq 1 ] \
  || fail "the refusals are not audited once: $(sql "$dir" "SELECT details FROM audit_events WHERE action='ssh.refused';")"
[ "$(audit_count "$dir" ssh.refused '127.0.0.2')" -eq 1 ] || fail "the refusal event does not name the source"
touch "$TMP/idle.stop"
wait "$hold_pid" 2>/dev/null || true
pass "per_source_max_startups 10: 4 of 14 idle connections from 127.0.0.2 closed at once (one ssh.refused); ssh from 127.0.0.1 logs in"

# --- login_grace_time: a connection that never logs in is closed -------------------------------
stop_gateway TERM
write_ssh_config "$TMP/c2.toml" "login_grace_time = \"2s\""
start_ssh_gateway "$dir" "$TMP/c2.toml"
python3 "$TMP/hold.py" 127.0.0.2 "$SSH_PORT" 1 "$TMP/grace.status" "$TMP/grace.stop" &
hold_pid=$!
STARTED_PIDS+=("$hold_pid")
wait_status "$TMP/grace.status" "closed 1" || fail "an idle connection was not closed after the grace time: $(cat "$TMP/grace.status")"
grep -qF "not logged in within 2 s; closed" "$GW_LOG" || fail "the grace close is not logged: $(tail -3 "$GW_LOG")"
touch "$TMP/grace.stop"
wait "$hold_pid" 2>/dev/null || true
pass "login_grace_time 2s: an idle connection is closed by the gateway and logged"

# --- failed key probes: at most 10 audited per source a minute, then one summary ---------------
ssh-keygen -q -t ed25519 -N '' -C stranger -f "$TMP/stranger.key" </dev/null
for i in $(seq 1 14); do
  rc=0
  timeout 30 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/stranger.key" \
    root@web01@127.0.0.1 true >/dev/null 2>"$TMP/err" </dev/null || rc=$?
  [ "$rc" -eq 255 ] && grep -qF "Permission denied" "$TMP/err" || fail "unregistered key $i: exit $rc: $(cat "$TMP/err")"
done
probes=$(audit_count "$dir" ssh.login 'key not registered')
[ "$probes" -eq 10 ] || fail "failed key probes audited $probes times (wanted 10)"
[ "$(audit_count "$dir" ssh.probes_suppressed '"source":"127.0.0.1"')" -eq 1 ] \
  || fail "no single ssh.probes_suppressed event: $(sql "$dir" "SELECT action, details FROM audit_events WHERE action LIKE 'ssh.%';")"
pass "14 connections probing an unregistered key: 10 ssh.login failures, then one ssh.probes_suppressed"
