# Shared helpers for shell integration tests (sourced). Every process started here is tracked by
# PID and stopped on exit; every wait loop is bounded.
set -euo pipefail

: "${SEKISHOD:?SEKISHOD must point at the sekishod binary (ctest sets it)}"
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sekisho-${TEST_NAME}-XXXXXX")
STARTED_PIDS=()
# Servers that outlive their starter (sshd_host.sh, slapd.sh, samba_ad.sh) stop once this test's
# process is gone, even when a time-out killed it before cleanup().
export HARNESS_OWNER_PID=${HARNESS_OWNER_PID:-$$}

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  exit 1
}

pass() { echo "ok [$TEST_NAME]: $*"; }

# expect_refusal NEEDLE EXPECTED_RC CMD...: the command exits EXPECTED_RC with exactly one line on
# stderr that contains NEEDLE. An empty NEEDLE is a test bug (it would accept any failure).
expect_refusal() {
  local needle=$1 want_rc=$2
  shift 2
  [ -n "$needle" ] || fail "expect_refusal needs the message it expects, got an empty needle for: $*"
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
  [ "$rc" -eq "$want_rc" ] || fail "exit $rc (wanted $want_rc) from: $* ; stderr: $(cat "$TMP/err")"
  local lines
  lines=$(wc -l <"$TMP/err")
  [ "$lines" -eq 1 ] || fail "stderr has $lines lines (wanted one) from: $*: $(cat "$TMP/err")"
  grep -qF -- "$needle" "$TMP/err" || fail "stderr lacks '$needle' from: $*: $(cat "$TMP/err")"
}

# init_data_dir DIR: sekishod init --json, keeping the output (with the one-time password) in a
# file of the temp dir, never on the test's own output.
init_data_dir() {
  "$SEKISHOD" init --data-dir "$1" --json >"$TMP/init-$(basename "$1").json" \
    || fail "init of $1 failed"
}

# write_config FILE [EXTRA_TOML]: API and SSH listener on kernel-chosen loopback ports (the SSH
# listener is on by default on 0.0.0.0:2222: a test must never listen there). An EXTRA with its own
# [ssh] table names its own listen address instead (a second [ssh] table is a TOML error).
write_config() {
  local extra=${2:-} ssh='[ssh]\nlisten = "127.0.0.1:0"\n'
  if grep -q '^\[ssh\]' <<<"$extra"; then
    grep -q '^listen = "127\.' <<<"$extra" || fail "write_config: an [ssh] table needs a loopback listen"
    ssh=
  fi
  printf "[api]\nlisten = \"127.0.0.1:0\"\n%s\n$ssh" "$extra" >"$1"
}

# wait_for_listen LOG PID TENTHS: waits (at most TENTHS tenths of a second) for the gateway's
# "listening on https://127.0.0.1:PORT" line in LOG and sets GW_PORT; fails if PID exits first.
wait_for_listen() {
  local log=$1 pid=$2 tenths=$3 i
  GW_PORT=
  for i in $(seq 1 "$tenths"); do
    GW_PORT=$(grep -o 'listening on https://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$GW_PORT" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "gateway exited early: $(tail -5 "$log")"
    sleep 0.1
  done
  fail "gateway did not start listening within $((tenths / 10)) s: $(tail -5 "$log")"
}

# start_gateway DIR CONFIG: starts sekishod serve, waits (bounded) for its listen line, and sets
# GW_PID, GW_PORT and GW_LOG.
start_gateway() {
  GW_LOG="$TMP/serve-$RANDOM.log"
  "$SEKISHOD" serve --data-dir "$1" --config "$2" >"$GW_LOG" 2>&1 &
  GW_PID=$!
  STARTED_PIDS+=("$GW_PID")
  wait_for_listen "$GW_LOG" "$GW_PID" 100
}

# stop_gateway [SIGNAL]: signals the gateway and returns its exit status in GW_RC.
stop_gateway() {
  kill "-${1:-TERM}" "$GW_PID"
  GW_RC=0
  wait "$GW_PID" || GW_RC=$?
}

# health: GET /v1/health over TLS verified against the gateway's own certificate.
health() {
  curl -sS --max-time 10 --cacert "$1/tls.crt" "https://127.0.0.1:$GW_PORT/v1/health"
}

# sql DIR STATEMENTS: runs SQL on the store with the real sqlcipher CLI and the master key, as an
# attacker holding the key would. The key goes through stdin (printf is a builtin: no argv).
sql() {
  { printf 'PRAGMA key = "x'"'"'%s'"'"'";\nPRAGMA cipher_page_size = 16384;\n' "$(cat "$1/master.key")"; printf '%s\n' "$2"; } |
    sqlcipher -batch "$1/sekisho.db"
}

# The real sekisho CLI, as one user: cli_as HOME_NAME ARGS... (SEKISHO_HOME per user, so several
# users act from one machine as DESIGN.md says).
SEKISHO_CLI="${SEKISHO_BUILD_DIR:-}/bin/sekisho"
cli_as() {
  local who=$1
  shift
  SEKISHO_HOME="$TMP/home-$who" SEKISHO_SERVER="https://127.0.0.1:$GW_PORT" "$SEKISHO_CLI" "$@"
}

# login_as HOME_NAME USER PASSWORD [NEW_PASSWORD]: sekisho login --password-stdin; the password
# travels on stdin only.
login_as() {
  local who=$1 user=$2 pw=$3 new=${4:-}
  if [ -n "$new" ]; then
    printf '%s\n%s\n' "$pw" "$new" | cli_as "$who" login --user "$user" --password-stdin
  else
    printf '%s\n' "$pw" | cli_as "$who" login --user "$user" --password-stdin
  fi
}

# one_time_password DATA_DIR: the init operator's one-time password from init --json output.
one_time_password() { json_field "$TMP/init-$(basename "$1").json" one_time_password; }

# json_field FILE|- PATH: the value at PATH (keys and list indices joined by dots, as
# sessions.0.id; empty for the whole document) of the JSON in FILE, or on stdin for -: a string as
# it is, anything else as JSON (true, 3, null, [...]). A missing PATH fails (exit 1) with a message
# naming PATH and FILE, never the document (it may hold a secret).
json_field() {
  python3 -c 'import json, sys
src, path = sys.argv[1], sys.argv[2]
v = json.load(sys.stdin if src == "-" else open(src))
for part in path.split(".") if path else []:
    try:
        v = v[int(part)] if isinstance(v, list) else v[part]
    except (KeyError, IndexError, ValueError, TypeError):
        sys.exit("json_field: no %s in %s" % (path, "stdin" if src == "-" else src))
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# json_rows FILE|- LIST_PATH [FIELD...]: one line per element of the list at LIST_PATH (as in
# json_field) of the JSON in FILE or on stdin: its FIELDs joined by tabs, or the element itself
# when no FIELD is named. Strings as they are, but with a tab, newline or backslash in them written
# \t, \n, \\ (each element stays one line); null as empty; anything else as JSON. An element
# without a FIELD fails (exit 1) naming the FIELD.
json_rows() {
  python3 -c 'import json, sys
src, path, fields = sys.argv[1], sys.argv[2], sys.argv[3:]
v = json.load(sys.stdin if src == "-" else open(src))
for part in path.split(".") if path else []:
    try:
        v = v[int(part)] if isinstance(v, list) else v[part]
    except (KeyError, IndexError, ValueError, TypeError):
        sys.exit("json_rows: no %s in %s" % (path, "stdin" if src == "-" else src))
def text(x):
    if isinstance(x, str):
        return x.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return "" if x is None else json.dumps(x)
for row in v:
    if not fields:
        print(text(row))
        continue
    missing = [f for f in fields if f not in row]
    if missing:
        sys.exit("json_rows: no %s in an element of %s" % (missing[0], path))
    print("\t".join(text(row[f]) for f in fields))' "$@"
}

# totp_enroll WHO SECRET_FILE [ENROLL_ARGS...]: WHO enrols TOTP (`sekisho --json totp enroll`);
# the new secret goes into SECRET_FILE and the whole answer into SECRET_FILE.json, both 0600 and
# never on the test's output. Confirming is left to the test.
totp_enroll() {
  local who=$1 file=$2
  shift 2
  (umask 077 && cli_as "$who" --json totp enroll "$@" >"$file.json") || fail "totp enroll as $who"
  (umask 077 && json_field "$file.json" secret >"$file") || fail "no secret in the enrol answer"
}

# The RFC 6238 code of the base32 secret in file $1, $2 steps of 30 s ahead (default 0). The secret
# is read from the file, never put on a command line.
totp_code() {
  python3 - "$1" "${2:-0}" <<'PY'
import base64, hmac, hashlib, struct, sys, time
s = open(sys.argv[1]).read().strip()
key = base64.b32decode(s + "=" * (-len(s) % 8))
step = int(time.time()) // 30 + int(sys.argv[2])
h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
o = h[-1] & 15
print("%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000))
PY
}

# wrong_totp_code CODE: a six-digit code that is not CODE (half the code space away).
wrong_totp_code() { printf '%06d\n' $(((10#$1 + 500000) % 1000000)); }  # 10#: CODE may start with 0

# audit_actions DATA_DIR: the actions of the audit chain, one per line, in order.
audit_actions() { sql "$1" "SELECT action FROM audit_events ORDER BY seq;"; }

# audit_count DATA_DIR ACTION [NEEDLE]: how many audit events of ACTION have details containing
# NEEDLE (a piece of an SQL LIKE pattern: % matches anything; no single quotes).
audit_count() {
  sql "$1" "SELECT count(*) FROM audit_events WHERE action = '$2' AND details LIKE '%${3:-}%';"
}

# --- SSH gateway set-up shared by the SSH tests and bench/ssh_gateway_bench.sh ------------------
# write_ssh_config FILE [EXTRA_TOML]: an [ssh] listener on a kernel-chosen loopback port, login
# throttling out of the way, and one policy (1 approval by role:approver) for every host.
write_ssh_config() {
  local file=$1 extra=${2:-}
  write_config "$file" "
[ssh]
listen = \"127.0.0.1:0\"
$extra
[auth]
max_failures = 1000
[[policy]]
name = \"all\"
hosts = [\"*\"]
requesters = [\"role:requester\"]
approvers = [\"role:approver\"]
approvals = 1
max_duration = \"4h\"
"
}

# wait_for_ssh_listen: waits (bounded, 5 s) for "ssh listening on 127.0.0.1:PORT" in GW_LOG and
# sets SSH_PORT.
wait_for_ssh_listen() {
  local i
  SSH_PORT=
  for i in $(seq 1 50); do
    SSH_PORT=$(grep -o 'ssh listening on 127.0.0.1:[0-9]*' "$GW_LOG" | grep -o '[0-9]*$' || true)
    [ -n "$SSH_PORT" ] && return 0
    sleep 0.1
  done
  fail "no 'ssh listening on' line: $(tail -3 "$GW_LOG")"
}

# pin_gateway_host_key DATA_DIR: $TMP/known_hosts holds exactly the gateway's own SSH host key
# for [127.0.0.1]:$SSH_PORT, so the tests' clients check it strictly: no trust on first use.
pin_gateway_host_key() {
  printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$1/ssh_host_ed25519_key.pub")" \
    >"$TMP/known_hosts"
}

# The OpenSSH client options of every test towards the gateway (ssh, sftp, scp): no user config,
# only the key given with -i, no prompts, the host key pin_gateway_host_key wrote, a bounded
# connect. The port goes after them (-p/-P "$SSH_PORT"); an option given before them wins.
GW_SSH_OPTS=(-F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes
  -o UserKnownHostsFile="$TMP/known_hosts" -o ConnectTimeout=10)

# start_ssh_gateway DIR CONFIG: start_gateway, then waits for the SSH listener (SSH_PORT) and pins
# its host key in $TMP/known_hosts (pin_gateway_host_key).
start_ssh_gateway() {
  start_gateway "$1" "$2"
  wait_for_ssh_listen
  pin_gateway_host_key "$1"
}

# add_users NAME:ROLE...: the operator "op" (logged in) adds each user with that role and the
# initial password NAME-Initial-pw1; each logs in once and sets NAME-Password-22.
add_users() {
  local u name
  for u in "$@"; do
    name=${u%%:*}
    printf '%s\n' "$name-Initial-pw1" |
      cli_as op users add "$name" --roles "${u##*:}" --password-stdin >/dev/null || fail "users add $u"
    login_as "$name" "$name" "$name-Initial-pw1" "$name-Password-22" >/dev/null 2>"$TMP/login.err" ||
      fail "login $name: $(cat "$TMP/login.err")"
  done
}

# ssh_granted_session DATA_DIR HOST_DIR HOST_NAME [KEY]: with a started gateway (GW_PORT,
# SSH_PORT) and a running sshd_host.sh host: operator login, users alice (requester), bob
# (approver) and audrey (auditor), the host registered with the account's password vaulted (set
# inside the host, never shown) or, given KEY, that private key vaulted (its .pub authorized on
# the host), alice's key $TMP/alice.key registered, alice's request for ACCOUNT@HOST approved
# (SSH_REQUEST_ID), and $TMP/known_hosts pinning the gateway's host key. The account is root,
# or SSH_ACCOUNT (a user created by sshd_host.sh start).
ssh_granted_session() {
  local data=$1 hostdir=$2 host=$3 key=${4:-} acct=${SSH_ACCOUNT:-root} u name port pw
  login_as op admin "$(one_time_password "$data")" "operator-Password-1" >/dev/null 2>&1 ||
    fail "operator login"
  add_users alice:requester bob:approver audrey:auditor
  port=$(cat "$hostdir/port")
  cli_as op hosts add "$host" --address "127.0.0.1:$port" >/dev/null || fail "hosts add $host"
  if [ -n "$key" ]; then
    bash "$(dirname "${BASH_SOURCE[0]}")/sshd_host.sh" authorize "$hostdir" "$acct" <"$key.pub"
    cli_as op accounts add "$acct@$host" --key "$key" >/dev/null || fail "accounts add"
  else
    pw="Root-Vaulted-$RANDOM$RANDOM-pw"
    printf '%s\n' "$pw" | bash "$(dirname "${BASH_SOURCE[0]}")/sshd_host.sh" passwd "$hostdir" "$acct" ||
      fail "passwd $acct"
    printf '%s\n' "$pw" | cli_as op accounts add "$acct@$host" --password-stdin >/dev/null ||
      fail "accounts add"
  fi
  [ -f "$TMP/alice.key" ] || ssh-keygen -q -t ed25519 -N '' -C alice -f "$TMP/alice.key" </dev/null
  cli_as alice keys add "$TMP/alice.key.pub" >/dev/null || fail "keys add alice"
  SSH_REQUEST_ID=$(cli_as alice request "$acct@$host" --reason "scale and bench" --duration 4h) ||
    fail "request"
  cli_as bob approve "$SSH_REQUEST_ID" >/dev/null || fail "approve"
  pin_gateway_host_key "$data"
}

# newest_session AUDITOR USER FIELD...: the FIELDs (tab-separated, as json_rows) of USER's most
# recently started session, as AUDITOR sees it in `sekisho --json sessions`.
newest_session() {
  local who=$1 user=$2
  shift 2
  cli_as "$who" --json sessions --user "$user" | json_rows - sessions started_at "$@" | sort |
    tail -1 | cut -f2-
}

# open_sessions AUDITOR USER: the ids of USER's open sessions as AUDITOR sees them, one per line.
open_sessions() {
  cli_as "$1" --json sessions --user "$2" | json_rows - sessions id state |
    awk -F'\t' '$2 == "open" { print $1 }'
}

# wait_open_session AUDITOR USER: waits (bounded, 10 s) until USER has an open session, as AUDITOR
# sees it, and prints its id; returns 1 when none opened.
wait_open_session() {
  local id
  for _ in $(seq 1 100); do
    id=$(open_sessions "$1" "$2" | head -1)
    [ -n "$id" ] && { echo "$id"; return 0; }
    sleep 0.1
  done
  return 1
}

# wait_session_end DATA_DIR SID [TENTHS]: waits (bounded, TENTHS tenths of a second, default 150)
# until the store's row of session SID has ended; prints state|end_reason (state "ended" or
# "open") and returns 1 when it had not ended in time.
wait_session_end() {
  local row
  for _ in $(seq 1 "${3:-150}"); do
    row=$(sql "$1" "SELECT CASE WHEN ended_at IS NULL OR ended_at = '' THEN 'open' ELSE 'ended' END
      || '|' || coalesce(end_reason, '') FROM sessions WHERE id = '$2';")
    [ "${row%%|*}" = ended ] && { echo "$row"; return 0; }
    sleep 0.1
  done
  echo "$row"
  return 1
}

# free_port: a loopback TCP port that was free a moment ago (bound to port 0, then released).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# pss_kb PID...: the sum of the processes' proportional set sizes in kB (gone PIDs count 0).
pss_kb() {
  [ $# -gt 0 ] || { echo 0; return 0; }
  local pid files=()
  for pid in "$@"; do files+=("/proc/$pid/smaps_rollup"); done
  cat "${files[@]}" 2>/dev/null | awk '/^Pss:/ {s += $2} END {print s + 0}'
}

# rss_kb PID: the process's resident set size in kB (0 when gone).
rss_kb() {
  local v
  v=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
  echo $((10#${v:-0}))
}

# descendant_pids PID [COMM]: PIDs below PID in the process tree (children, grandchildren, …),
# only those named COMM when given, one per line.
descendant_pids() {
  ps -e -o pid=,ppid=,comm= | awk -v root="$1" -v want="${2:-}" '
    { parent[$1] = $2; name[$1] = $3 }
    END {
      for (p in parent) {
        q = parent[p]
        for (depth = 0; depth < 64 && q != "" && q != 0; depth++) {
          if (q == root) { if (want == "" || name[p] == want) print p; break }
          q = parent[q]
        }
      }
    }'
}

# child_pids PID: the PIDs whose parent is PID, one per line.
child_pids() { pgrep -P "$1" || true; }
