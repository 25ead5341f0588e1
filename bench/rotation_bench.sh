#!/usr/bin/env bash
# Password rotation throughput and the gateway's own CPU per verified rotation, next to the peer
# an admin script would be, in the same run on the same hosts:
#   gateway  `sekisho rotate --all` over BENCH_HOSTS real sshd hosts (root's vaulted password),
#            at [rotation] concurrency 1, 8 and 16 (the gateway restarted between runs); CPU of
#            sekishod and its reaped workers (utime+stime+cutime+cstime from /proc/PID/stat,
#            before/after), which does not depend on how fast the co-located hosts are.
#   openssh  the OpenSSH client: `ssh` with a key as root to each host running `chpasswd` with
#            the line on stdin, then a fresh `ssh` login with the new password (SSH_ASKPASS) of
#            the host's account `app`, at the same concurrency; CPU of those ssh processes
#            (wait4's rusage of each, with its askpass).
# The gateway also checks that the old password is refused (a third login) unless
# BENCH_CHECK_OLD=0. Prints one table (hosts per minute, CPU ms per verified rotation, the ratio
# gateway/openssh); asserts only that every rotation verified (every account current with a new,
# distinct password), never a time.
#
# Run from a build tree with sekishod, sekisho and sekisho-worker built (needs root: the sshd hosts
# of tests/harness/sshd_host.sh):
#   SEKISHO_BUILD_DIR=$PWD/build bash bench/rotation_bench.sh
# Parameters (environment): BENCH_HOSTS=50, BENCH_CONCURRENCY="1 8 16", BENCH_CHECK_OLD=1.
set -euo pipefail
src=${SEKISHO_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${SEKISHO_BUILD_DIR:-$src/build}
export SEKISHO_BUILD_DIR=$build
export SEKISHOD=${SEKISHOD:-$build/bin/sekishod}
# shellcheck source=../tests/harness/lib.sh
source "$src/tests/harness/lib.sh"
harness="$src/tests/harness"

N=${BENCH_HOSTS:-50}
LEVELS=${BENCH_CONCURRENCY:-1 8 16}
CHECK_OLD=${BENCH_CHECK_OLD:-1}
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 500 ] || fail "BENCH_HOSTS: 1..500"
for c in $LEVELS; do
  [[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -ge 1 ] && [ "$c" -le 64 ] || fail "BENCH_CONCURRENCY: 1..64 each"
done
case $CHECK_OLD in 0) check_old=false ;; 1) check_old=true ;; *) fail "BENCH_CHECK_OLD: 0 or 1" ;; esac
[ "$(id -u)" -eq 0 ] || fail "needs root (sshd hosts in their own mount namespaces)"
[ -x "$SEKISHO_CLI" ] || fail "no $SEKISHO_CLI (build the sekisho target)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
TICK_MS=$((1000 / $(getconf CLK_TCK)))

# --- the hosts ----------------------------------------------------------------------------------
# Each host: root's password vaulted in the gateway; the peer's key authorized for root; an
# account `app` whose password the peer rotates (the peer never touches the vaulted root).
hosts=()
stop_hosts() {
  local h
  for h in "${hosts[@]}"; do bash "$harness/sshd_host.sh" stop "$TMP/$h" || true; done
  cleanup
}
trap stop_hosts EXIT
chmod 0711 "$TMP"
ssh-keygen -q -t ed25519 -N '' -C bench-peer -f "$TMP/peer.key" </dev/null
: >"$TMP/known_hosts.peer"
echo "starting $N sshd hosts"
for i in $(seq 1 "$N"); do
  h=$(printf 'h%03d' "$i")
  hosts+=("$h")
  mkdir -p "$TMP/$h"
  bash "$harness/sshd_host.sh" start "$TMP/$h" "$h" app >/dev/null || fail "start $h"
  bash "$harness/sshd_host.sh" authorize "$TMP/$h" root <"$TMP/peer.key.pub"
  printf '[127.0.0.1]:%s %s\n' "$(cat "$TMP/$h/port")" \
    "$(cut -d' ' -f1,2 "$TMP/$h/ssh_host_ed25519_key.pub")" >>"$TMP/known_hosts.peer"
done

# --- the gateway ---------------------------------------------------------------------------------
dir="$TMP/var"
init_data_dir "$dir"
api_port=$(free_port)
# gateway_config C: the API on a fixed port (the CLI's pin and token outlive restarts), no SSH
# listener needed beyond a loopback one, rotation at concurrency C.
gateway_config() {
  cat >"$TMP/c.toml" <<EOF
[api]
listen = "127.0.0.1:$api_port"
[ssh]
listen = "127.0.0.1:0"
[rotation]
concurrency = $1
[[rotation.policy]]
name = "bench"
hosts = ["*"]
check_old_refused = $check_old
EOF
}
gateway_config 1
start_gateway "$dir" "$TMP/c.toml"
login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 ||
  fail "operator login"
for h in "${hosts[@]}"; do
  pw="Bench-Root-$RANDOM$RANDOM$RANDOM-pw"
  printf '%s\n' "$pw" | bash "$harness/sshd_host.sh" passwd "$TMP/$h" root || fail "passwd $h"
  cli_as op hosts add "$h" --address "127.0.0.1:$(cat "$TMP/$h/port")" >/dev/null || fail "hosts add $h"
  printf '%s\n' "$pw" | cli_as op accounts add "root@$h" --password-stdin >/dev/null ||
    fail "accounts add root@$h"
done
unset pw

# cpu_ticks PID: utime+stime+cutime+cstime of PID (its reaped children included), in clock ticks.
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat")
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  echo $((${12} + ${13} + ${14} + ${15}))
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
declare -A R=()

# --- the peer: OpenSSH client, as an admin script ------------------------------------------------
cat >"$TMP/askpass" <<'EOF'
#!/bin/sh
exec cat "$PEER_PASSWORD_FILE"
EOF
chmod 0700 "$TMP/askpass"
for h in "${hosts[@]}"; do echo "$h $(cat "$TMP/$h/port")"; done >"$TMP/peer-hosts"
for c in $LEVELS; do
  python3 - "$TMP" "$c" >"$TMP/peer.out" <<'PY' || fail "openssh peer at concurrency $c: $(cat "$TMP/peer.out")"
import concurrent.futures, os, secrets, string, subprocess, sys, time
tmp, conc = sys.argv[1], int(sys.argv[2])
hosts = [line.split() for line in open(os.path.join(tmp, "peer-hosts"))]
common = ["ssh", "-F", "/dev/null", "-o", "UserKnownHostsFile=" + tmp + "/known_hosts.peer",
          "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=30", "-o", "ControlMaster=no",
          "-o", "LogLevel=ERROR"]
alphabet = string.ascii_letters + string.digits + "-_.,+="

def run(argv, stdin_bytes, env=None):
    """Runs argv with stdin_bytes on its stdin; returns (exit code, CPU seconds from wait4)."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)
    p.stdin.write(stdin_bytes)
    p.stdin.close()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_utime + ru.ru_stime

def rotate(host):
    name, port = host
    pw = "".join(secrets.choice(alphabet) for _ in range(32))
    rc1, cpu1 = run(common + ["-p", port, "-i", tmp + "/peer.key", "-o", "IdentitiesOnly=yes",
                              "-o", "BatchMode=yes", "root@127.0.0.1", "chpasswd"],
                    ("app:%s\n" % pw).encode())
    pwfile = os.path.join(tmp, "peer-pw-" + name)
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (pw + "\n").encode())
    os.close(fd)
    env = dict(os.environ, SSH_ASKPASS=tmp + "/askpass", SSH_ASKPASS_REQUIRE="force",
               PEER_PASSWORD_FILE=pwfile, DISPLAY="none")
    rc2, cpu2 = run(common + ["-p", port, "-o", "PubkeyAuthentication=no",
                              "-o", "PreferredAuthentications=password,keyboard-interactive",
                              "-o", "NumberOfPasswordPrompts=1", "app@127.0.0.1", "true"], b"", env)
    os.unlink(pwfile)
    return name, rc1, rc2, cpu1 + cpu2

t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(conc) as pool:
    results = list(pool.map(rotate, hosts))
wall = time.monotonic() - t0
bad = [(n, a, b) for n, a, b, _ in results if a != 0 or b != 0]
if bad:
    sys.exit("failed (host, chpasswd exit, login exit): %s" % bad[:5])
print(int(wall * 1000), int(sum(r[3] for r in results) * 1000))
PY
  read -r wall cpu <"$TMP/peer.out"
  R[ssh.$c.wall]=$wall
  R[ssh.$c.cpu]=$cpu
  echo "openssh, concurrency $c: $N verified in $wall ms, $cpu ms CPU"
done

# --- gateway runs --------------------------------------------------------------------------------
for c in $LEVELS; do
  stop_gateway TERM
  gateway_config "$c"
  start_gateway "$dir" "$TMP/c.toml"
  cli_as op --json accounts list | json_rows - accounts host fingerprint | sort >"$TMP/fp-before"
  verified0=$(audit_count "$dir" rotation.verified)
  cpu0=$(cpu_ticks "$GW_PID")
  t0=$(now_ms)
  cli_as op rotate --all >"$TMP/rotate.out" 2>&1 ||
    fail "rotate --all at concurrency $c: $(tail -5 "$TMP/rotate.out")"
  t1=$(now_ms)
  cpu1=$(cpu_ticks "$GW_PID")
  # The gateway's periodic sweep may rotate an account the job marked owed before the job reaches
  # it (the job then rotates it again): the CPU is divided by every verified rotation.
  verified=$(($(audit_count "$dir" rotation.verified) - verified0))
  [ "$verified" -ge "$N" ] || fail "concurrency $c: $verified verified rotations, wanted $N"
  cli_as op --json accounts list | json_rows - accounts fingerprint state >"$TMP/fps"
  fps=$(cut -f1 "$TMP/fps" | sort -u | wc -l)
  [ "$fps" -eq "$N" ] || fail "concurrency $c: $fps distinct fingerprints for $N accounts"
  ! grep -qv $'\tcurrent$' "$TMP/fps" || fail "concurrency $c: an account is not current"
  cli_as op --json accounts list | json_rows - accounts host fingerprint | sort >"$TMP/fp-after"
  [ -z "$(comm -12 "$TMP/fp-before" "$TMP/fp-after")" ] || fail "concurrency $c: an account kept its password"
  R[gw.$c.wall]=$((t1 - t0))
  R[gw.$c.cpu]=$(((cpu1 - cpu0) * TICK_MS))
  R[gw.$c.n]=$verified
  echo "gateway, concurrency $c: $N hosts, $verified verified rotations in $((t1 - t0)) ms, $(((cpu1 - cpu0) * TICK_MS)) ms CPU"
done

# --- the table -----------------------------------------------------------------------------------
per() { awk -v a="$1" -v n="${2:-$N}" 'BEGIN {printf "%.1f", a / n}'; }
rate() { awk -v w="$1" -v n="$N" 'BEGIN {printf "%.0f", (w > 0) ? n * 60000 / w : 0}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
echo
echo "rotation of $N hosts, $(nproc) cores: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "gateway: chpasswd over SSH in a worker, verify by a fresh login, old password refused: $check_old"
printf '%-6s %8s %14s %14s %16s %16s %10s  %s\n' conc "gw rots" "gw hosts/min" "ssh hosts/min" \
  "gw CPU ms/rot" "ssh CPU ms/rot" "gw/ssh" "goal: gw CPU <= 20 ms/rot"
for c in $LEVELS; do
  gw=$(per "${R[gw.$c.cpu]}" "${R[gw.$c.n]}")
  peer=$(per "${R[ssh.$c.cpu]}")
  printf '%-6s %8s %14s %14s %16s %16s %10s  %s\n' "$c" "${R[gw.$c.n]}" "$(rate "${R[gw.$c.wall]}")" \
    "$(rate "${R[ssh.$c.wall]}")" "$gw" "$peer" "$(ratio "$gw" "$peer")" \
    "$(awk -v g="$gw" 'BEGIN {print (g <= 20) ? "met" : "missed"}')"
done
