#!/usr/bin/env bash
# 100 concurrent real OpenSSH sessions through a real gateway to one real sshd host, each echoing
# 64 KiB of random data through `cat` on the target: every session returns exactly what it sent,
# all workers exit afterwards, every session row ends with a recording that verifies, and the
# core's memory does not keep growing from one round of 100 sessions to the next.
#
# Memory figures are printed (RSS and PSS of the core and its workers, from /proc by PID). The
# core's allocator keeps freed memory, so "back to baseline" is checked honestly as: a second
# identical round grows the core's RSS by at most SCALE_GROWTH_KB over the first round's
# after-value (a leak per session shows up there), and the first round stays within a generous
# bound of the baseline.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

# Under AddressSanitizer each worker takes ~80 MB and several times the CPU: 100 at once on 2
# cores did not all finish within the round's bound once (57 of 100 after 237 s), so that build
# runs 30; the release build runs the 100 of issue 6.
if [ -n "${ASAN_OPTIONS:-}" ]; then SESSIONS=${SSH_SCALE_SESSIONS:-30}; else SESSIONS=${SSH_SCALE_SESSIONS:-100}; fi
PAYLOAD_BYTES=${SSH_SCALE_PAYLOAD_BYTES:-65536}
GROWTH_KB=${SSH_SCALE_GROWTH_KB:-8192}      # round 2 over round 1, after both ended
FIRST_KB=${SSH_SCALE_FIRST_ROUND_KB:-65536} # round 1 over the idle baseline
[[ "$SESSIONS" =~ ^[0-9]+$ ]] && [ "$SESSIONS" -ge 1 ] && [ "$SESSIONS" -le 500 ] ||
  fail "SSH_SCALE_SESSIONS must be 1..500"

dir="$TMP/var"
init_data_dir "$dir"
# The default max_startups (50) and per_source_max_startups (10) would turn away part of a burst
# of 100 connections from one address.
write_ssh_config "$TMP/c.toml" "${SSH_SCALE_LIMITS_TOML-max_sessions = 1000
max_startups = 1000
per_source_max_startups = 1000}"
start_ssh_gateway "$dir" "$TMP/c.toml"

mkdir -p "$TMP/web01"
# 100 connections at once: sshd's default MaxStartups (here 50:30:100) would drop some.
# A plain account "app": root's shell on this machine reads /root/.bashrc (sshd makes bash read it
# even for a command), which costs seconds per session here. Its key file must be reachable.
chmod 0711 "$TMP"
read -r web_port web_pid < <(SSHD_HOST_EXTRA_CONFIG="MaxStartups 1000" \
  bash "$harness/sshd_host.sh" start "$TMP/web01" web01 app)
STARTED_PIDS+=("$web_pid")
SSH_ACCOUNT=app ssh_granted_session "$dir" "$TMP/web01" web01

head -c "$PAYLOAD_BYTES" /dev/urandom >"$TMP/payload"
want=$(sha256sum <"$TMP/payload")

# gateway_mem: "CORE_RSS CORE_PSS WORKERS WORKERS_PSS" in kB.
gateway_mem() {
  local workers
  mapfile -t workers < <(child_pids "$GW_PID")
  echo "$(rss_kb "$GW_PID") $(pss_kb "$GW_PID") ${#workers[@]} $(pss_kb "${workers[@]}")"
}

# round NAME: SESSIONS concurrent sessions. Each sends the payload, then keeps its stdin open until
# the gate file exists, so that all of them are live at once when the peak is measured.
round() {
  local name=$1 i pids=() gate="$TMP/gate-$1" done_n=0 rc ended=""
  # Opens the gate before failing, so that the clients' stdin loops end instead of running on.
  round_fail() {
    : >"$gate"
    fail "$@"
  }
  for i in $(seq 1 "$SESSIONS"); do
    {
      cat "$TMP/payload"
      for _ in $(seq 1 250); do [ -e "$gate" ] || ! kill -0 $$ 2>/dev/null && break; sleep 1; done
    } | timeout 240 ssh -o ConnectTimeout=120 "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" \
      -i "$TMP/alice.key" app@web01@127.0.0.1 cat >"$TMP/$name-$i.out" 2>"$TMP/$name-$i.err" &
    pids+=("$!")
    STARTED_PIDS+=("$!")
    # A steady stream (10 connections a second) rather than one instant burst: all sessions are
    # still live at once at the peak, held open by the gate.
    sleep 0.1
  done
  # Bounded wait until every session has echoed the whole payload back.
  local peak_pss=0 m
  for _ in $(seq 1 400); do
    done_n=$(stat -c %s "$TMP/$name-"*.out | awk -v n="$PAYLOAD_BYTES" '$1 >= n {c++} END {print c + 0}')
    read -r -a m < <(gateway_mem)
    [ $((m[1] + m[3])) -gt "$peak_pss" ] && peak_pss=$((m[1] + m[3])) && peak=("${m[@]}")
    [ "$done_n" -eq "$SESSIONS" ] && break
    # Sessions stay open until the gate: a client that has already ended failed.
    ended=""
    for i in $(seq 1 "$SESSIONS"); do
      kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { ended=$i; break; }
    done
    [ -z "$ended" ] || break
    sleep 0.5
  done
  echo "round $name (${SECONDS}s): $done_n/$SESSIONS sessions echoed the payload; peak: core RSS ${peak[0]} kB" \
    "PSS ${peak[1]} kB, ${peak[2]} workers PSS ${peak[3]} kB" \
    "($(((peak[1] + peak[3]) / SESSIONS)) kB per session)"
  if [ "$done_n" -ne "$SESSIONS" ]; then
    echo "gateway log (last lines):" && tail -n 20 "$GW_LOG"
    echo "target sshd log (last lines):" && tail -n 20 "$TMP/web01/sshd.log"
    [ -z "$ended" ] || round_fail "only $done_n of $SESSIONS sessions echoed; session $name-$ended" \
      "ended early: $(cat "$TMP/$name-$ended.err")"
    round_fail "only $done_n of $SESSIONS sessions echoed within the bound (e.g. $(cat "$TMP/$name-1.err"))"
  fi
  [ "${peak[2]}" -eq "$SESSIONS" ] || round_fail "peak shows ${peak[2]} workers, wanted $SESSIONS"
  : >"$gate"
  for i in $(seq 1 "$SESSIONS"); do
    rc=0
    wait "${pids[$((i - 1))]}" || rc=$?
    [ "$rc" -eq 0 ] || fail "session $name-$i exit $rc: $(cat "$TMP/$name-$i.err")"
    [ "$(sha256sum <"$TMP/$name-$i.out")" = "$want" ] || fail "session $name-$i echoed other bytes"
  done
  # Every worker exits once its connection ended (bounded wait).
  for _ in $(seq 1 300); do
    [ -z "$(child_pids "$GW_PID")" ] && break
    sleep 0.1
  done
  [ -z "$(child_pids "$GW_PID")" ] || fail "workers still running: $(child_pids "$GW_PID" | tr '\n' ' ')"
}

# sessions_by_state: "STATE=COUNT ..." over all of alice's sessions, states in order.
sessions_by_state() {
  cli_as audrey --json sessions --user alice | json_rows - sessions state | sort | uniq -c |
    awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $2, $1 } END { print "" }'
}

read -r -a base < <(gateway_mem)
echo "baseline: core RSS ${base[0]} kB PSS ${base[1]} kB, ${base[2]} workers"
round one
read -r -a after1 < <(gateway_mem)
echo "after round one: core RSS ${after1[0]} kB PSS ${after1[1]} kB, ${after1[2]} workers"
states=$(sessions_by_state)
[ "$states" = "closed=$SESSIONS" ] || fail "session states after round one: $states"
pass "$SESSIONS concurrent sessions echoed ${PAYLOAD_BYTES} bytes each; all workers exited; all rows closed"

# Every recording of round one verifies offline against the gateway's public signing key.
cli_as audrey --json sessions --user alice | json_rows - sessions id >"$TMP/ids"
n=0
while read -r sid; do
  cli_as audrey export "$sid" --format skr --out "$TMP/s.skr" >/dev/null </dev/null || fail "export $sid"
  out=$(env -u SEKISHO_SERVER SEKISHO_HOME="$TMP/nobody" "$SEKISHO_CLI" verify "$TMP/s.skr" \
    --public-key "$dir/signing.pub" </dev/null) || fail "verify $sid: $out"
  grep -qE '^result +OK$' <<<"$out" || fail "verify report of $sid: $out"
  n=$((n + 1))
done <"$TMP/ids"
[ "$n" -eq "$SESSIONS" ] || fail "$n recordings verified, wanted $SESSIONS"
pass "all $n recordings verify"

round two
read -r -a after2 < <(gateway_mem)
echo "after round two: core RSS ${after2[0]} kB PSS ${after2[1]} kB, ${after2[2]} workers"
states=$(sessions_by_state)
[ "$states" = "closed=$((2 * SESSIONS))" ] || fail "session states after round two: $states"
if [ -n "${ASAN_OPTIONS:-}" ]; then
  # AddressSanitizer holds freed memory in its quarantine (seen: 175 MB -> 499 MB after round
  # one), so RSS says nothing about leaks there; LeakSanitizer checks those in that build.
  echo "memory bounds not checked under AddressSanitizer: core RSS ${base[0]} -> ${after1[0]} -> ${after2[0]} kB"
else
  [ "${after1[0]}" -le $((base[0] + FIRST_KB)) ] ||
    fail "core RSS after round one ${after1[0]} kB > baseline ${base[0]} kB + $FIRST_KB kB"
  [ "${after2[0]}" -le $((after1[0] + GROWTH_KB)) ] ||
    fail "core RSS grew from ${after1[0]} kB to ${after2[0]} kB over a second round (> $GROWTH_KB kB)"
  pass "core RSS: baseline ${base[0]} kB, after round one ${after1[0]} kB, after round two ${after2[0]} kB"
fi

stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway exit $GW_RC"
bash "$harness/sshd_host.sh" stop "$TMP/web01"
