#!/usr/bin/env bash
# When the core dies, its workers stop at once (issue 13), with real parts: a real sekishod, a
# real sshd host web01, real OpenSSH clients: two interactive pty shells typed into through fifos
# (one of them through a ControlPersist master), a download in flight and a connection logged in
# with no session yet (ssh -N). SIGKILL the core in the middle of them: within a bounded wait every
# session's client exits with the worker's one line on its stderr and every worker process is gone
# (no 30 s wait for a client's hang-up); each recording holds complete chunks only, up to and
# including what was shown just before the kill (the worker flushed its last chunk). A gateway
# started again replays them.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"
TOOL="${SEKISHO_BUILD_DIR:?}/tests/recorder_tool"
[ -x "$TOOL" ] || fail "recorder_tool not built: $TOOL"

GONE_LINE='sekisho: the gateway stopped; this session is closed and its recording kept'

dir="$TMP/var"
init_data_dir "$dir"
write_ssh_config "$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"
first_log=$GW_LOG

mkdir -p "$TMP/web01"
# A plain account: root's shell here reads /root/.bashrc, which costs seconds per session.
chmod 0711 "$TMP"
read -r _ web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01 app)
STARTED_PIDS+=("$web_pid")
SSH_ACCOUNT=app ssh_granted_session "$dir" "$TMP/web01" web01

# gone PID: the process has ended (a zombie counts: it runs no more code).
gone() { [ ! -e "/proc/$1/status" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
# wait_for_text FILE TEXT TENTHS: bounded wait until FILE holds TEXT.
wait_for_text() {
  local i
  for i in $(seq 1 "$3"); do
    grep -qaF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# start_session NAME [SSH_OPTION...]: an interactive `ssh -tt` shell through the gateway in the
# background, keystrokes through a fifo held open on ${FD[NAME]}; sets ${PID[NAME]}; waits (bounded)
# until the shell answered.
declare -A FD PID
start_session() {
  local name=$1 fd
  shift
  mkfifo "$TMP/$name.in"
  timeout 120 ssh -tt "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" \
    "$@" app@web01@127.0.0.1 <"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PID[$name]=$!
  STARTED_PIDS+=("$!")
  exec {fd}>"$TMP/$name.in"
  FD[$name]=$fd
  printf 'echo started-$((6*7))\n' >&"$fd"
  wait_for_text "$TMP/$name.out" started-42 300 \
    || fail "session $name did not start: $(cat "$TMP/$name.err"); gateway: $(tail -5 "$GW_LOG")"
}

# Three sessions: a plain client, which hangs up as soon as its session channel closes; a client
# whose connection outlives its session (ControlPersist, as people keep a master connection open):
# a worker must not wait for that one to hang up when the core is gone; and a download in flight
# (exec, no pty), whose relay is busy moving bytes and waiting for the recorder when the core dies.
start_session plain
start_session mux -o ControlMaster=yes -o ControlPersist=60 -o ControlPath="$TMP/mux.sock"
master=$(ssh -F /dev/null -o ControlPath="$TMP/mux.sock" -O check x 2>&1 | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
[ -n "$master" ] || fail "no ControlPersist master: $(ssh -F /dev/null -o ControlPath="$TMP/mux.sock" -O check x 2>&1)"
STARTED_PIDS+=("$master")
mapfile -t sids < <(open_sessions audrey alice)
[ "${#sids[@]}" -eq 2 ] || fail "wanted two open sessions: ${sids[*]:-none}"
timeout 120 ssh -T "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" app@web01@127.0.0.1 \
  'head -c 4194304 /dev/zero; echo bulk-started; while :; do head -c 1048576 /dev/zero; sleep 0.1; done' \
  </dev/null >"$TMP/bulk.out" 2>"$TMP/bulk.err" &
PID[bulk]=$!
STARTED_PIDS+=("$!")
wait_for_text "$TMP/bulk.out" bulk-started 300 || fail "the download did not start: $(cat "$TMP/bulk.err")"
# And a connection logged in with no session yet (ssh -N, as a master connection opened ahead):
# its worker waits for a channel request, which can no longer be granted once the core is gone.
timeout 120 ssh -N "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" \
  app@web01@127.0.0.1 </dev/null >"$TMP/idle.out" 2>"$TMP/idle.err" &
PID[idle]=$!
STARTED_PIDS+=("$!")
for _ in $(seq 1 300); do
  [ "$(audit_count "$dir" ssh.grant_used)" -eq 4 ] && break
  sleep 0.1
done
[ "$(audit_count "$dir" ssh.grant_used)" -eq 4 ] \
  || fail "the ssh -N connection did not log in: $(cat "$TMP/idle.err")"
mapfile -t workers < <(descendant_pids "$GW_PID" sekisho-worker)
[ "${#workers[@]}" -eq 4 ] || fail "wanted four workers under the core, found: ${workers[*]:-none}"

# Shown less than a second before the kill: still in the recorder's open chunk (a chunk is sealed
# a second after its first record), so only a worker that flushes on the core's death keeps it.
for name in plain mux; do
  printf 'echo flushed-%s-$((6*7))\n' "$name" >&"${FD[$name]}"
done
for name in plain mux; do
  wait_for_text "$TMP/$name.out" "flushed-$name-42" 100 || fail "no echo in $name: $(cat "$TMP/$name.err")"
done
kill -KILL "$GW_PID"
wait "$GW_PID" 2>/dev/null || true

# Bounded at 10 s: well inside the 30 s a worker otherwise gives a client to hang up.
all_gone() {
  local p
  for p in "${PID[plain]}" "${PID[mux]}" "${PID[bulk]}" "${PID[idle]}" "$master" "${workers[@]}"; do
    gone "$p" || return 1
  done
}
for _ in $(seq 1 100); do
  all_gone && break
  sleep 0.1
done
for name in plain mux bulk; do
  gone "${PID[$name]}" || fail "the $name ssh client still runs 10 s after the core died: $(cat "$TMP/$name.err")"
done
for w in "${workers[@]}"; do
  gone "$w" || fail "worker $w still runs 10 s after the core died: $(tail -5 "$first_log")"
done
gone "$master" || fail "the ControlPersist master is still connected 10 s after the core died"
gone "${PID[idle]}" || fail "the ssh -N client is still connected 10 s after the core died"
for name in plain mux bulk; do
  if [ "$name" != bulk ]; then
    fd=${FD[$name]}
    exec {fd}>&-
  fi
  rc=0
  wait "${PID[$name]}" || rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$name: ssh exit $rc after the core died: $(cat "$TMP/$name.err")"
  [ "$(grep -caF "$GONE_LINE" "$TMP/$name.err")" -eq 1 ] \
    || fail "$name: the client's stderr lacks the one line '$GONE_LINE': $(cat "$TMP/$name.err")"
done
pass "SIGKILL of the core: the three clients exit with the one line, the master and the ssh -N client too, all four workers are gone"

# The files as the workers left them: complete chunks whose hash chain verifies, no closing record
# (the core seals it at its next start), no torn frame at the end.
for sid in "${sids[@]}"; do
  [ -s "$dir/recordings/$sid.skr" ] || fail "no recording of $sid: $(ls "$dir/recordings")"
done
recs=("$dir"/recordings/*.skr)
[ "${#recs[@]}" -eq 3 ] || fail "wanted three recordings: $(ls "$dir/recordings")"
for rec in "${recs[@]}"; do
  sid=$(basename "$rec" .skr)
  report=$("$TOOL" verify "$rec" --pub "$dir/signing.pub" 2>&1) && fail "an unsealed recording verified: $report"
  chunks=$(sed -n 's/^chunks \([0-9]*\) .*/\1/p' <<<"$report")
  [ "${chunks:-0}" -ge 1 ] && grep -q '^chunks [0-9]* chain ok ' <<<"$report" \
    || fail "$sid: the recording's chunks do not verify: $report"
  [ "$(grep -c '^problem: ' <<<"$report")" -eq 1 ] &&
    grep -qx "problem: file ends after $chunks chunks without a closing record (cut, or the writer stopped)" <<<"$report" \
    || fail "$sid: wanted a clean end after the last complete chunk (no torn frame): $report"
done
pass "the three recordings hold complete chunks whose chain verifies, cleanly ended"

# A gateway started again on the same data dir replays each session up to the kill (the CLI's
# token names the old server URL: the auditor logs in again).
start_gateway "$dir" "$TMP/c.toml"
login_as audrey audrey audrey-Password-22 >/dev/null 2>&1 || fail "audrey login after the restart"
for sid in "${sids[@]}"; do
  cli_as audrey replay "$sid" --speed 1000 --idle-limit 0.01 >"$TMP/replay.out" </dev/null \
    || fail "replay of $sid after the restart: $(cat "$TMP/replay.out"); $(tail -5 "$GW_LOG")"
  grep -qaE 'flushed-(plain|mux)-42' "$TMP/replay.out" || fail "the replay of $sid lacks what was shown before the kill"
  cli_as audrey export "$sid" --format asciicast --out "$TMP/$sid.cast" >/dev/null || fail "export $sid"
  grep -qF 'gateway stopped: the core is gone' "$TMP/$sid.cast" || fail "no marker of the core's death in $sid"
done
pass "after a restart each replay shows what was shown right before the kill, and the stop's marker"
