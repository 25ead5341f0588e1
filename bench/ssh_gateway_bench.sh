#!/usr/bin/env bash
# The Sekisho SSH gateway next to its peers, measured in the same run with the same cipher:
#   direct     ssh to the target sshd
#   proxyjump  OpenSSH ProxyJump through a second real sshd acting as bastion
#   gateway    ssh app@web01@gateway through a real sekishod, recording on (it always records)
# Download and upload (MB/s), `ssh … true` set-up time (median), 1-byte echo round trip
# (median/p99, bench/ssh_echo_rtt), memory per idle session (PSS; gateway: core + workers,
# ProxyJump: the bastion's sshd processes). Prints figures and ratios; asserts no time.
#
# Run from a build tree (ctest's bench.ssh_gateway_bench_smoke runs it with tiny sizes):
#   SEKISHO_BUILD_DIR=build-cli bench/ssh_gateway_bench.sh
# Needs root (the sshd hosts of tests/harness/sshd_host.sh). Parameters (environment):
#   BENCH_MIB=500            size of the download/upload, MiB
#   BENCH_REPEAT=3           transfer runs per direction and path (median)
#   BENCH_SETUP_N=15         `ssh … true` runs per path (median)
#   BENCH_RTT_N=2000         timed 1-byte round trips per path
#   BENCH_IDLE_COUNTS="200 1000"  idle session counts for the memory figure
#   BENCH_BATCH=50           idle sessions opened at a time (2 cores: bounded batches)
#   BENCH_KEX=curve25519-sha256   key exchange for every leg (libssh 0.10 has no sntrup761)
set -euo pipefail
src=${SEKISHO_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${SEKISHO_BUILD_DIR:-$src/build}
export SEKISHO_BUILD_DIR=$build
export SEKISHOD=${SEKISHOD:-$build/bin/sekishod}
RTT=${SSH_ECHO_RTT:-$build/bench/ssh_echo_rtt}
# shellcheck source=../tests/harness/lib.sh
source "$src/tests/harness/lib.sh"
harness="$src/tests/harness"

MIB=${BENCH_MIB:-500}
REPEAT=${BENCH_REPEAT:-3}
SETUP_N=${BENCH_SETUP_N:-15}
RTT_N=${BENCH_RTT_N:-2000}
IDLE_COUNTS=${BENCH_IDLE_COUNTS:-200 1000}
BATCH=${BENCH_BATCH:-50}
KEX=${BENCH_KEX:-curve25519-sha256}
CIPHER=aes128-gcm@openssh.com
for v in MIB:1:4096 REPEAT:1:20 SETUP_N:1:1000 RTT_N:1:1000000 BATCH:1:500; do
  IFS=: read -r name lo hi <<<"$v"
  val=${!name}
  [[ "$val" =~ ^[0-9]+$ ]] && [ "$val" -ge "$lo" ] && [ "$val" -le "$hi" ] ||
    fail "BENCH_$name must be an integer from $lo to $hi"
done
for n in $IDLE_COUNTS; do
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 5000 ] || fail "BENCH_IDLE_COUNTS: 1..5000 each"
done
[ -x "$RTT" ] || fail "no $RTT (build the ssh_echo_rtt target)"
[ "$(id -u)" -eq 0 ] || fail "needs root (sshd hosts in their own mount namespaces)"
# Every idle session costs the bench a few descriptors and the gateway core one or two.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

max_idle=0
for n in $IDLE_COUNTS; do [ "$n" -gt "$max_idle" ] && max_idle=$n; done
limit=$((max_idle + 100))

# --- the parts ----------------------------------------------------------------------------------
dir="$TMP/var"
init_data_dir "$dir"
# BENCH_LIMITS_TOML="" runs a gateway that predates these [ssh] keys (then at most 500 sessions).
# Every client connects from 127.0.0.1: the per-source cap must not turn away part of a burst.
write_ssh_config "$TMP/c.toml" "${BENCH_LIMITS_TOML-max_sessions = $((limit * 2))
max_startups = $limit
per_source_max_startups = $limit}"
start_gateway "$dir" "$TMP/c.toml"
wait_for_ssh_listen

# Both sshd accept only the benchmark cipher, so the gateway's target leg (libssh) uses it too.
host_config="MaxStartups $limit
Ciphers $CIPHER
KexAlgorithms $KEX"
# A plain account "app" on both: root's shell on a dev machine reads /root/.bashrc (sshd makes
# bash read it even for a command), seconds of noise per session.
chmod 0711 "$TMP"
for h in web01 bastion; do
  mkdir -p "$TMP/$h"
  read -r port pid < <(SSHD_HOST_EXTRA_CONFIG="$host_config" bash "$harness/sshd_host.sh" start "$TMP/$h" "$h" app)
  STARTED_PIDS+=("$pid")
  eval "${h}_port=$port ${h}_pid=$pid"
done
ssh-keygen -q -t ed25519 -N '' -C bench-target -f "$TMP/target.key" </dev/null
ssh-keygen -q -t ed25519 -N '' -C alice -f "$TMP/alice.key" </dev/null
# The gateway logs in to web01 with a vaulted key, as ssh does for direct and ProxyJump.
SSH_ACCOUNT=app ssh_granted_session "$dir" "$TMP/web01" web01 "$TMP/target.key"
for h in web01 bastion; do
  bash "$harness/sshd_host.sh" authorize "$TMP/$h" app <"$TMP/alice.key.pub"
done
for h in web01:$web01_port bastion:$bastion_port; do
  printf '[127.0.0.1]:%s %s\n' "${h#*:}" "$(cut -d' ' -f1,2 "$TMP/${h%%:*}/ssh_host_ed25519_key.pub")"
done >>"$TMP/known_hosts"
cat >"$TMP/ssh_config" <<EOF
# ssh keeps the first value of an option: the specific blocks come before the common one.
Host direct
  Port $web01_port
Host bastion
  Port $bastion_port
Host proxyjump
  Port $web01_port
  ProxyJump bastion
Host gateway
  Port $SSH_PORT
  User app@web01
Host direct proxyjump bastion gateway
  HostName 127.0.0.1
  User app
  Ciphers $CIPHER
  KexAlgorithms $KEX
  HostKeyAlgorithms ssh-ed25519
  IdentityFile $TMP/alice.key
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking yes
  UserKnownHostsFile $TMP/known_hosts
  ConnectTimeout 120
  ControlMaster no
  Compression no
EOF
bssh() { timeout 600 ssh -F "$TMP/ssh_config" "$@"; }
for p in direct proxyjump gateway; do
  out=$(bssh "$p" 'echo reach-$((6*7))' </dev/null) || fail "$p: ssh failed"
  [ "$out" = reach-42 ] || fail "$p: unexpected output $out"
done

PATHS=(direct proxyjump gateway)
now() { echo "$EPOCHREALTIME"; }
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
# After a gateway session the core verifies the recording and writes its index files (the .seek
# comes last) on that connection's thread. Each transfer is timed on a quiet machine: the next
# one starts once this work is done, and the time it took is reported on its own line.
settle() {
  local i n_rec n_idx
  for i in $(seq 1 3000); do
    n_rec=$(find "$dir/recordings" -name '*.skr' | wc -l)
    n_idx=$(find "$dir/recordings" -name '*.skr.seek' | wc -l)
    [ "$n_rec" -eq "$n_idx" ] && return 0
    sleep 0.1
  done
  fail "the core did not finish a recording within 300 s ($n_idx of $n_rec indexed)"
}
declare -A R

echo "# ssh gateway bench $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores," \
  "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "# cipher $CIPHER, kex $KEX on every leg; $(ssh -V 2>&1); size ${MIB} MiB x $REPEAT"

# --- throughput --------------------------------------------------------------------------------
head -c "$((MIB * 1048576))" /dev/urandom >"$TMP/blob"
chmod 0644 "$TMP/blob"
bytes=$((MIB * 1048576))
for p in "${PATHS[@]}"; do
  for dirn in down up; do
    : >"$TMP/rates"
    for _ in $(seq 1 "$REPEAT"); do
      t0=$(now)
      if [ "$dirn" = down ]; then
        got=$(bssh "$p" "cat $TMP/blob" </dev/null | wc -c) || got="$got (ssh failed)"
      else
        got=$(bssh "$p" 'wc -c' <"$TMP/blob") || got="${got:-0} (ssh failed)"
      fi
      t1=$(now)
      [ "$got" = "$bytes" ] || fail "$p $dirn: $got of $bytes bytes arrived; gateway log: $(tail -n 5 "$GW_LOG")"
      awk -v b="$bytes" -v a="$t0" -v c="$t1" 'BEGIN {printf "%.1f\n", b / 1e6 / (c - a)}' >>"$TMP/rates"
      if [ "$p" = gateway ]; then
        settle
        awk -v a="$t1" -v c="$(now)" 'BEGIN {printf "%.2f\n", c - a}' >>"$TMP/settle"
      fi
    done
    R[$p.$dirn]=$(median <"$TMP/rates")
    echo "$p $dirn: ${R[$p.$dirn]} MB/s (runs: $(tr '\n' ' ' <"$TMP/rates"))"
    if [ "$p" = gateway ]; then
      echo "gateway $dirn: the core's verify + index files after each session took" \
        "$(tr '\n' ' ' <"$TMP/settle")s (not in the transfer time; the next run waited for it)"
      : >"$TMP/settle"
    fi
  done
done

# --- set-up time and echo round trip -----------------------------------------------------------
for p in "${PATHS[@]}"; do
  : >"$TMP/setup"
  for _ in $(seq 1 "$SETUP_N"); do
    t0=$(now)
    bssh "$p" true </dev/null || fail "$p: ssh true failed"
    t1=$(now)
    awk -v a="$t0" -v c="$t1" 'BEGIN {printf "%.1f\n", (c - a) * 1000}' >>"$TMP/setup"
  done
  R[$p.setup]=$(median <"$TMP/setup")
  # A pty, as for a keystroke: OpenSSH sets TCP_NODELAY only for interactive sessions (without
  # one, Nagle and delayed ACKs add milliseconds on the OpenSSH paths), and raw mode so that the
  # terminal does not echo the byte a second time. dd ends after exactly the bytes ssh_echo_rtt
  # sends (its 20 warm-up round trips and RTT_N timed ones): a raw pty passes no end-of-file, so
  # `cat` would never end.
  read -r med p99 mx < <("$RTT" "$RTT_N" --ready timeout 600 ssh -tt -F "$TMP/ssh_config" "$p" \
    "stty raw -echo; printf R; exec dd bs=1 count=$((RTT_N + 20)) status=none") ||
    fail "$p: echo round trip failed"
  R[$p.rtt]=$med
  R[$p.rtt99]=$p99
  echo "$p: setup median ${R[$p.setup]} ms; echo RTT median $med us, p99 $p99 us, max $mx us"
done

# --- memory per idle session --------------------------------------------------------------------
# open_idle PATH N: N sessions each running `cat` on web01 with a stdin that never sends, opened
# BATCH at a time; each batch is up (printed "idle-up") before the next starts. Sets IDLE_PIDS.
mkfifo "$TMP/hold"
exec 9<>"$TMP/hold"
open_idle() {
  local p=$1 n=$2 i j first up
  IDLE_PIDS=()
  rm -f "$TMP"/idle-*.out
  for ((first = 1; first <= n; first += BATCH)); do
    for ((i = first; i < first + BATCH && i <= n; i++)); do
      timeout 3600 ssh -F "$TMP/ssh_config" "$p" 'echo idle-up; exec cat' <"$TMP/hold" \
        >"$TMP/idle-$i.out" 2>&1 &
      IDLE_PIDS+=("$!")
      STARTED_PIDS+=("$!")
    done
    for j in $(seq 1 1200); do
      up=0
      for ((i = first; i < first + BATCH && i <= n; i++)); do
        grep -qs idle-up "$TMP/idle-$i.out" && up=$((up + 1))
      done
      [ $((first + up)) -gt "$((i - 1))" ] && break
      sleep 0.1
    done
    [ $((first + up)) -gt "$((i - 1))" ] ||
      fail "$p: only $((first - 1 + up)) of $n idle sessions came up: $(cat "$TMP/idle-$first.out")"
  done
}
close_idle() {
  local pid
  for pid in "${IDLE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${IDLE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  IDLE_PIDS=()
}
# mem_of PATH: PSS in kB of what serves PATH's sessions between client and target.
mem_of() {
  case $1 in
    gateway) pss_kb "$GW_PID" $(child_pids "$GW_PID") ;;
    proxyjump) pss_kb "$bastion_pid" $(descendant_pids "$bastion_pid") ;;
  esac
}
wait_drained() {
  local p=$1
  for _ in $(seq 1 600); do
    case $p in
      gateway) [ -z "$(child_pids "$GW_PID")" ] && return 0 ;;
      proxyjump) [ -z "$(descendant_pids "$bastion_pid")" ] && return 0 ;;
    esac
    sleep 0.1
  done
  fail "$p: sessions still served 60 s after their clients ended"
}
for n in $IDLE_COUNTS; do
  for p in proxyjump gateway; do
    before=$(mem_of "$p")
    t0=$(now)
    open_idle "$p" "$n"
    t1=$(now)
    after=$(mem_of "$p")
    procs=$(case $p in gateway) child_pids "$GW_PID" ;; proxyjump) descendant_pids "$bastion_pid" ;; esac | wc -l)
    close_idle
    wait_drained "$p"
    R[$p.idle$n]=$(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN {printf "%.2f", (a - b) / n / 1024}')
    R[$p.idle${n}total]=$(awk -v a="$after" -v n="$n" 'BEGIN {printf "%.2f", a / n / 1024}')
    echo "$p: $n idle sessions: PSS $before -> $after kB over $procs processes;" \
      "${R[$p.idle$n]} MB per session (${R[$p.idle${n}total]} MB incl. the listener);" \
      "opened in $(awk -v a="$t0" -v c="$t1" 'BEGIN {printf "%.1f", c - a}') s"
  done
done
exec 9>&-

# --- summary ------------------------------------------------------------------------------------
echo
echo "## summary (gateway / ProxyJump; goals from issue 6)"
printf '%-22s %10s %10s %10s %8s  %s\n' metric direct proxyjump gateway ratio goal
row() { printf '%-22s %10s %10s %10s %8s  %s\n' "$1" "${R[direct.$2]:--}" "${R[proxyjump.$2]}" \
  "${R[gateway.$2]}" "$(ratio "${R[gateway.$2]}" "${R[proxyjump.$2]}")" "$3"; }
row "download MB/s" down ">= 1.25"
row "upload MB/s" up ">= 1.25"
row "setup ms (median)" setup "<= 0.80"
row "echo RTT us (median)" rtt "<= 1.00"
row "echo RTT us (p99)" rtt99 "-"
for n in $IDLE_COUNTS; do
  row "idle MB/session @$n" "idle$n" "gateway < 1.5 MB"
done

stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway exit $GW_RC"
for h in web01 bastion; do bash "$harness/sshd_host.sh" stop "$TMP/$h"; done
