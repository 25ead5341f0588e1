#!/usr/bin/env bash
# Fault injection with real kills (issue 15): a rotation never loses a password.
#
# Real parts: ROTATION_KILL_HOSTS sshd hosts (default 3), each root password vaulted; a real
# sekishod; the real CLI; the real OpenSSH client through the gateway; a real webhook receiver.
#
# 1. ROTATION_KILL_COUNT rounds (default 20; 100 for the full run): `sekisho rotate --all
#    --no-wait`, wait a moment spread over 0..X ms (X: a whole `rotate --all` measured at the
#    start, as the CLI sees it), then SIGKILL sekishod (odd rounds) or the rotating
#    sekisho-worker (even rounds). sekishod is restarted on the same data dir and the test
#    waits (bounded) until `accounts list --json` shows no account pending (start-up recovery);
#    after a worker kill the gateway lives on and the job ends, and an account left in doubt is
#    settled before its next use. Then the vault's current password must log in to every host:
#    a gateway SSH session (alice's approved session-mode request; the gateway logs in to the
#    host with the vault's current credential) runs `true`, and no account is pending or
#    unknown. A round where it does not fails, naming the round, the kill, the delay, each
#    account's step, its state and its rotation events in the round.
# 2. The target's sshd killed in the middle of a change (every process of the host, as a crash
#    does), once before the host's chpasswd wrote /etc/shadow and once after, then started again
#    on the same port and /etc: no lockout (the account ends current: the old password, then the
#    new one; a gateway session logs in), the failure is audited and notified by the webhook.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"
count=${ROTATION_KILL_COUNT:-20}
nhosts=${ROTATION_KILL_HOSTS:-3}
[[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 2 ] && [ "$count" -le 10000 ] ||
  fail "ROTATION_KILL_COUNT must be an integer from 2 to 10000"
[[ "$nhosts" =~ ^[0-9]+$ ]] && [ "$nhosts" -ge 1 ] && [ "$nhosts" -le 50 ] ||
  fail "ROTATION_KILL_HOSTS must be an integer from 1 to 50"
test_start=$SECONDS

# --- the parts ----------------------------------------------------------------------------------
hooks="$TMP/hooks.txt"
: >"$hooks"
coproc RECEIVER { exec python3 "$harness/webhook_receiver.py" "$hooks"; }
STARTED_PIDS+=("$RECEIVER_PID")
read -r -t 10 hook_port <&"${RECEIVER[0]}" || fail "webhook receiver did not start"

dir="$TMP/var"
init_data_dir "$dir"
# Fixed ports: the restarted gateway is the same server for the CLI's pin and ssh's known_hosts.
api_port=$(free_port)
ssh_port=$(free_port)
cat >"$TMP/c.toml" <<EOF
[api]
listen = "127.0.0.1:$api_port"
[ssh]
listen = "127.0.0.1:$ssh_port"
[auth]
max_failures = 1000
[[policy]]
name = "all"
hosts = ["*"]
requesters = ["role:requester"]
approvers = ["role:approver"]
approvals = 1
max_duration = "8h"
[rotation]
concurrency = $nhosts
[[notify.webhook]]
url = "http://127.0.0.1:$hook_port/hooks/rotation"
max_attempts = 3
EOF
start_ssh_gateway "$dir" "$TMP/c.toml"
login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 ||
  fail "operator login"
add_users alice:requester bob:approver
ssh-keygen -q -t ed25519 -N '' -C alice -f "$TMP/alice.key" </dev/null
cli_as alice keys add "$TMP/alice.key.pub" >/dev/null || fail "keys add alice"

# Hosts are stopped by their directory (sshd_host.sh checks the PID is that host's sshd), also
# the ones this test restarted; then lib.sh's cleanup.
hosts=()
stop_hosts() {
  local h
  for h in "${hosts[@]}"; do bash "$harness/sshd_host.sh" stop "$TMP/$h" || true; done
  cleanup
}
trap stop_hosts EXIT
chmod 0711 "$TMP"
for i in $(seq 1 "$nhosts"); do
  h=$(printf 'web%02d' "$i")
  hosts+=("$h")
  mkdir -p "$TMP/$h"
  bash "$harness/sshd_host.sh" start "$TMP/$h" "$h" >/dev/null || fail "start $h"
  pw="Root-Vaulted-$RANDOM$RANDOM-$i-pw"
  printf '%s\n' "$pw" | bash "$harness/sshd_host.sh" passwd "$TMP/$h" root || fail "passwd $h"
  cli_as op hosts add "$h" --address "127.0.0.1:$(cat "$TMP/$h/port")" >/dev/null ||
    fail "hosts add $h"
  printf '%s\n' "$pw" | cli_as op accounts add "root@$h" --password-stdin >/dev/null ||
    fail "accounts add root@$h"
  req=$(cli_as alice request "root@$h" --reason "rotation kill test" --duration 8h) ||
    fail "request root@$h"
  cli_as bob approve "$req" >/dev/null || fail "approve $req"
done
unset pw

# --- helpers ------------------------------------------------------------------------------------
# account_rows: "host<TAB>state<TAB>fingerprint" per account, as the operator sees them.
account_rows() {
  cli_as op --json accounts list | json_rows - accounts host state fingerprint
}
states() { account_rows | cut -f1,2 | tr '\t\n' ':,'; }

# wait_settled TENTHS: waits (bounded) until no account is pending; returns 1 if one still is.
wait_settled() {
  local rows
  for _ in $(seq 1 "$1"); do
    rows=$(account_rows 2>/dev/null) || rows=pending
    grep -q $'\tpending\t' <<<"$rows" || [ "$rows" = pending ] || return 0
    sleep 0.1
  done
  return 1
}

# wait_job ID TENTHS: waits (bounded) until the job is no longer running; prints its state.
wait_job() {
  local state=running
  for _ in $(seq 1 "$2"); do
    state=$(cli_as op --json jobs "$1" | json_field - state) || state=running
    [ "$state" != running ] && break
    sleep 0.1
  done
  echo "$state"
}

# logs_in HOST: a gateway session to root@HOST runs `true` (the vault's current password logs in).
logs_in() {
  timeout 60 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" "root@$1@127.0.0.1" true \
    </dev/null >/dev/null 2>"$TMP/ssh.err"
}

audit_seq() { sql "$dir" "SELECT coalesce(max(seq), 0) FROM audit_events;"; }

# steps FROM TO: each host's last rotation step in the audit events FROM < seq <= TO, as
# "host=step" words (step: idle, start, changed, verified, failed, recovered, unknown).
steps() {
  local h last
  for h in "${hosts[@]}"; do
    last=$(sql "$dir" "SELECT action FROM audit_events WHERE seq > $1 AND seq <= $2
      AND action LIKE 'rotation.%' AND target = 'root@$h' ORDER BY seq DESC LIMIT 1;")
    echo "$h=${last#rotation.}"
  done | sed 's/=$/=idle/' | paste -sd' '
}

# trail FROM HOST: root@HOST's rotation events after seq FROM, "step: message" joined by " > ".
trail() {
  sql "$dir" "SELECT action, details FROM audit_events WHERE seq > $1 AND action LIKE 'rotation.%'
    AND target = 'root@$2' ORDER BY seq;" | python3 -c 'import json, sys
steps = []
for line in sys.stdin:
    action, _, details = line.rstrip("\n").partition("|")
    try:
        message = json.loads(details).get("message", "")
    except ValueError:
        message = details
    steps.append(action.replace("rotation.", "") + ": " + message)
print(" > ".join(steps))'
}

# rotation_workers: the sekisho-worker processes of the running gateway (no SSH session is open
# while a rotation runs here, so every one is a rotation's).
rotation_workers() { descendant_pids "$GW_PID" sekisho-worker; }

# proc_id PID: "PID@START" (its start time in ticks since boot) while PID runs and is no zombie,
# else nothing: a recycled PID never passes for the process seen before.
proc_id() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- "$1" $stat
  if [ "$2" != Z ]; then echo "$1@${21}"; fi
}

# sleep_ms MS
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- X: one whole `rotate --all`, measured -----------------------------------------------------
t0=$(now_ms)
cli_as op rotate --all >"$TMP/calibrate.out" 2>&1 || fail "the first rotate --all failed: $(cat "$TMP/calibrate.out")"
x_ms=$(($(now_ms) - t0))
for h in "${hosts[@]}"; do logs_in "$h" || fail "after the first rotation root@$h: $(cat "$TMP/ssh.err")"; done
[ "$(audit_count "$dir" rotation.verified)" -ge "$nhosts" ] || fail "the first rotate --all verified fewer than $nhosts"
# The CLI's polling makes X a little longer than the rotation itself: the last slices land after
# it (a kill of sekishod then, or no worker left to kill), which is a moment to test too.
echo "one rotate --all of $nhosts hosts took $x_ms ms: the kills land in 0..$x_ms ms"

# --- 1. kill sekishod or the rotating worker, COUNT times --------------------------------------
declare -A seen_step=()
pairs=$(((count + 1) / 2))
loop_start=$SECONDS
for round in $(seq 1 "$count"); do
  from=$(audit_seq)
  job=$(cli_as op rotate --all --no-wait) || fail "round $round: rotate --all --no-wait"
  # The delay sweeps 0..X over the rounds (each kind of kill in turn), at a random place in its
  # slice, so that a short run still lands in every step of a rotation.
  slice=$((x_ms / pairs + 1))
  delay=$(((round - 1) / 2 * x_ms / pairs + RANDOM % slice))
  sleep_ms "$delay"
  if [ $((round % 2)) -eq 1 ]; then
    kill_kind=sekishod
    killed_workers=$(for pid in $(rotation_workers); do proc_id "$pid"; done | paste -sd' ')
    stop_gateway KILL
    to=$(audit_seq)
    start_ssh_gateway "$dir" "$TMP/c.toml"
  else
    kill_kind="sekisho-worker"
    killed_workers=
    victim=
    # The rotation may be between two workers: look again (bounded) until one runs or the job ends.
    for _ in $(seq 1 500); do
      victim=$(rotation_workers | shuf -n1 || true)
      [ -n "$victim" ] && break
      [ "$(cli_as op --json jobs "$job" | json_field - state)" = running ] || break
      sleep 0.01
    done
    if [ -n "$victim" ]; then
      kill -KILL "$victim" 2>/dev/null || true
    else
      kill_kind="no worker (the rotation had ended)"
    fi
    to=$(audit_seq)
    state=$(wait_job "$job" 1200)
    [ "$state" != running ] || fail "round $round: job $job still running 120 s after the worker kill"
  fi
  point=$(steps "$from" "$to")
  for w in $point; do seen_step[${w#*=}]=$((${seen_step[${w#*=}]:-0} + 1)); done
  what="round $round: killed $kill_kind at $delay ms ($point)"
  if [ "$kill_kind" = sekishod ]; then
    # Recovery runs in the background at start-up: bounded wait, then every host logs in.
    wait_settled 1200 || fail "$what: still pending 120 s after the restart: $(states)"
    for h in "${hosts[@]}"; do
      logs_in "$h" ||
        fail "$what: the vault's current password of root@$h does not log in ($(states)): $(cat "$TMP/ssh.err"); root@$h since the round began: $(trail "$from" "$h")"
    done
  else
    # The gateway lives on: an account the job left in doubt is settled before its next use (the
    # session's credential fetch waits for it, bounded), so every host logs in; then none pending.
    for h in "${hosts[@]}"; do
      logs_in "$h" ||
        fail "$what: the vault's current password of root@$h does not log in ($(states)): $(cat "$TMP/ssh.err"); root@$h since the round began: $(trail "$from" "$h")"
    done
    wait_settled 100 || fail "$what: still pending after a session of each account: $(states)"
  fi
  # A worker of the killed core that lived on could still change a password behind the vault.
  for w in $killed_workers; do
    for _ in $(seq 1 100); do
      [ "$(proc_id "${w%%@*}")" = "$w" ] || break
      sleep 0.1
    done
    [ "$(proc_id "${w%%@*}")" != "$w" ] ||
      fail "round $round: worker ${w%%@*} of the killed sekishod still runs after the restart and the settling"
  done
  if grep -q $'\tunknown\t' <<<"$(account_rows)"; then fail "$what: an account is unknown: $(states)"; fi
  echo "round $round: killed $kill_kind at $delay ms ($point); settled, every host logs in"
done
loop_s=$((SECONDS - loop_start))
summary=$(for s in "${!seen_step[@]}"; do echo "$s=${seen_step[$s]}"; done | sort | paste -sd' ')
pass "$count rounds of SIGKILL (sekishod or its rotating worker) at random moments: after each, no account pending or unknown and every host accepts the vault's current password (${loop_s} s, $((loop_s * 1000 / count)) ms per round; kills per step: $summary)"

# --- 2. the target's sshd killed in the middle of a change ---------------------------------------
# In the host's own mount namespace, /usr/sbin/chpasswd is replaced by a wrapper that marks the
# moment (before or after running the real chpasswd on the line it reads from stdin) and then
# hangs, so the kill lands in the change for certain; the restarted host has the plain chpasswd.
h=${hosts[0]}
hdir="$TMP/$h"
hport=$(cat "$hdir/port")
cp /usr/sbin/chpasswd "$hdir/chpasswd.real"
fingerprint() { account_rows | awk -F'\t' -v h="$1" '$1 == h { print $3 }'; }

# kill_host: SIGKILL every process of the host (its sshd, the connection's sshd processes, the
# chpasswd wrapper), as a crash of the machine does; waits (bounded) until they are gone.
kill_host() {
  local pid pids
  pid=$(cat "$hdir/pid")
  pids="$pid $(descendant_pids "$pid" | paste -sd' ')"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for pid in $pids; do
    for _ in $(seq 1 100); do [ -n "$(proc_id "$pid")" ] || break; sleep 0.05; done
    [ -z "$(proc_id "$pid")" ] || fail "host $h: process $pid survived SIGKILL"
  done
}

for when in before after; do
  old_fp=$(fingerprint "$h")
  [ -n "$old_fp" ] || fail "no fingerprint for root@$h: $(states)"
  rm -f "$hdir/chpasswd-marker"
  if [ "$when" = before ]; then
    body="touch '$hdir/chpasswd-marker'; sleep 60; exec '$hdir/chpasswd.real'"
  else
    body="'$hdir/chpasswd.real'; touch '$hdir/chpasswd-marker'; sleep 60"
  fi
  printf '#!/bin/sh\n%s\n' "$body" >"$hdir/chpasswd-wrapper"
  chmod 0755 "$hdir/chpasswd-wrapper"
  bash "$harness/sshd_host.sh" exec "$hdir" mount --bind "$hdir/chpasswd-wrapper" /usr/sbin/chpasswd ||
    fail "could not put the chpasswd wrapper into $h"
  from=$(audit_seq)
  hook_lines=$(wc -l <"$hooks")
  job=$(cli_as op rotate "$h" --no-wait) || fail "rotate $h --no-wait"
  for _ in $(seq 1 300); do [ -e "$hdir/chpasswd-marker" ] && break; sleep 0.1; done
  [ -e "$hdir/chpasswd-marker" ] || fail "host kill ($when chpasswd): the change never reached chpasswd on $h"
  kill_host
  state=$(wait_job "$job" 1200)
  [ "$state" != running ] || fail "host kill ($when chpasswd): job $job still running 120 s after the host died"
  # The host comes back on the same port with the same /etc (and the real chpasswd).
  SSHD_HOST_PORT=$hport bash "$harness/sshd_host.sh" start "$hdir" "$h" >/dev/null ||
    fail "restart of $h"
  # The account is in doubt while the host is down; its next use settles it (a session's
  # credential fetch waits for the recovery, bounded) and must log in: no lockout.
  logs_in "$h" || fail "host kill ($when chpasswd): the vault's current password of root@$h does not log in ($(states)): $(cat "$TMP/ssh.err")"
  wait_settled 100 || fail "host kill ($when chpasswd): root@$h still pending after a session: $(states)"
  row=$(account_rows | awk -F'\t' -v h="$h" '$1 == h')
  [ "$(cut -f2 <<<"$row")" = current ] || fail "host kill ($when chpasswd): root@$h ended $(cut -f2 <<<"$row")"
  new_fp=$(cut -f3 <<<"$row")
  if [ "$when" = before ]; then
    [ "$new_fp" = "$old_fp" ] || fail "host kill before chpasswd: the vault's current changed, but the host kept the old password"
  else
    [ "$new_fp" != "$old_fp" ] || fail "host kill after chpasswd: the vault kept the old password, but the host took the new one"
  fi
  # Audited: the change failed, then the account was recovered.
  n_failed=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE seq > $from AND action = 'rotation.failed' AND target = 'root@$h';")
  n_recovered=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE seq > $from AND action = 'rotation.recovered' AND target = 'root@$h';")
  [ "$n_failed" -ge 1 ] && [ "$n_recovered" -ge 1 ] ||
    fail "host kill ($when chpasswd): $n_failed rotation.failed and $n_recovered rotation.recovered events for root@$h (wanted both)"
  # Notified: the webhook received the failure (bounded wait: delivery is asynchronous).
  for _ in $(seq 1 100); do
    tail -n +"$((hook_lines + 1))" "$hooks" | grep -F 'rotation.failed' | grep -qF "$h" && break
    sleep 0.1
  done
  tail -n +"$((hook_lines + 1))" "$hooks" | grep -F 'rotation.failed' | grep -qF "$h" ||
    fail "host kill ($when chpasswd): no rotation.failed webhook naming $h: $(tail -n +"$((hook_lines + 1))" "$hooks")"
  pass "the host's sshd killed $when its chpasswd ran: no lockout (root@$h current, $([ "$when" = before ] && echo the old || echo the new) password; a gateway session logs in), rotation.failed and rotation.recovered audited, the webhook notified"
done

# No secret in the gateway's log or the webhook messages: the vault's passwords are not known to
# this test, but their prefix is (every password this test set starts with Root-Vaulted-).
if grep -aqF "Root-Vaulted-" "$TMP"/serve-*.log "$hooks"; then fail "a vaulted password appears in the log or a webhook"; fi
echo "whole test: $((SECONDS - test_start)) s"
