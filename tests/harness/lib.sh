# Shared helpers for shell integration tests (sourced). Every process started here is tracked by
# PID and stopped on exit; every wait loop is bounded.
set -euo pipefail

: "${SEKISHOD:?SEKISHOD must point at the sekishod binary (ctest sets it)}"
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sekisho-${TEST_NAME}-XXXXXX")
STARTED_PIDS=()

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
# stderr that contains NEEDLE.
expect_refusal() {
  local needle=$1 want_rc=$2
  shift 2
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

# write_config FILE [EXTRA_TOML]: API on a kernel-chosen loopback port.
write_config() {
  printf '[api]\nlisten = "127.0.0.1:0"\n%s\n' "${2:-}" >"$1"
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
SEKISHO_CLI="${SEKISHO_BUILD_DIR:-}/cli/sekisho"
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
one_time_password() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["one_time_password"])' \
    "$TMP/init-$(basename "$1").json"
}

# audit_actions DATA_DIR: the actions of the audit chain, one per line, in order.
audit_actions() { sql "$1" "SELECT action FROM audit_events ORDER BY seq;"; }
