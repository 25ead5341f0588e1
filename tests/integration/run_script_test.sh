#!/usr/bin/env bash
# scripts/run.sh: the README's first command initialises a data dir once and leaves a gateway
# answering /v1/health.
source "$(dirname "$0")/../harness/lib.sh"
: "${SEKISHO_SOURCE_DIR:?}" "${SEKISHO_BUILD_DIR:?}"

write_config "$TMP/c.toml"
run_once() {
  SEKISHO_DATA_DIR="$TMP/var" SEKISHO_CONFIG="$TMP/c.toml" SEKISHO_BUILD_DIR="$SEKISHO_BUILD_DIR" \
    bash "$SEKISHO_SOURCE_DIR/scripts/run.sh" >"$TMP/run-$1.log" 2>&1 &
  GW_PID=$!
  STARTED_PIDS+=("$GW_PID")
  GW_LOG="$TMP/run-$1.log"
  wait_for_listen "$GW_LOG" "$GW_PID" 600
}

run_once 1
grep -q "one-time password" "$TMP/run-1.log" || fail "first run did not initialise and show the login"
grep -q '"status":"ok"' <<<"$(health "$TMP/var")" || fail "gateway from run.sh does not answer"
stop_gateway TERM   # run.sh execs sekishod, so its PID is the gateway's
[ "$GW_RC" -eq 0 ] || fail "gateway exited $GW_RC"

run_once 2
grep -q "one-time password" "$TMP/run-2.log" && fail "second run initialised again"
grep -q '"status":"ok"' <<<"$(health "$TMP/var")" || fail "second run does not answer"
stop_gateway TERM
pass "run.sh initialises once and serves"
