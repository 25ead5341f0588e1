#!/usr/bin/env bash
# sekishod serve: HTTPS health, JSON errors, limits, exclusive data dir, clean stop with audit.
source "$(dirname "$0")/../harness/lib.sh"

dir="$TMP/var"
init_data_dir "$dir"
printf '[api]\nlisten = "127.0.0.1:0"\nmax_body_bytes = 4096\n[ssh]\nlisten = "127.0.0.1:0"\n[audit]\ncheckpoint_interval = "1s"\n' >"$TMP/c.toml"
start_gateway "$dir" "$TMP/c.toml"

body=$(health "$dir") || fail "health request failed (TLS verified against tls.crt)"
[ "$(json_field - status <<<"$body")" = ok ] || fail "health said $body"
pass "GET /v1/health answers over verified TLS"

code=$(curl -s -o "$TMP/404" -w '%{http_code}' --cacert "$dir/tls.crt" "https://127.0.0.1:$GW_PORT/v1/nope")
[ "$code" = 404 ] || fail "unknown endpoint gave $code"
[ "$(json_field "$TMP/404" error)" = not_found ] && [ -n "$(json_field "$TMP/404" message)" ] || fail "404 body is not the JSON error shape: $(cat "$TMP/404")"
head -c 100000 /dev/zero >"$TMP/big"
code=$(curl -s -o "$TMP/413" -w '%{http_code}' --cacert "$dir/tls.crt" --data-binary @"$TMP/big" "https://127.0.0.1:$GW_PORT/v1/health")
[ "$code" = 413 ] || fail "oversized body gave $code"
[ "$(json_field "$TMP/413" error)" = payload_too_large ] || fail "413 body is not the JSON error shape: $(cat "$TMP/413")"
code=$(curl -s -o /dev/null -w '%{http_code}' --http1.1 "http://127.0.0.1:$GW_PORT/v1/health" || true)
[ "$code" != 200 ] || fail "plain HTTP was answered"
pass "errors use the JSON shape; body limit and TLS enforced"

expect_refusal "in use by another sekishod" 1 "$SEKISHOD" serve --data-dir "$dir" --config "$TMP/c.toml"
pass "a second gateway on the same data dir is refused"

sleep 1.5  # let the 1 s checkpoint timer run at least once while serving
first_pid=$GW_PID
stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway exited $GW_RC on SIGTERM: $(cat "$GW_LOG")"
grep -q "stopped (SIGTERM)" "$GW_LOG" || fail "no stop line in the log"
start_gateway "$dir" "$TMP/c.toml"
health "$dir" >/dev/null || fail "restarted gateway does not answer"
stop_gateway INT
[ "$GW_RC" -eq 0 ] || fail "gateway exited $GW_RC on SIGINT"
actions=$(sql "$dir" "SELECT action FROM audit_events ORDER BY seq;")
[ "$(echo "$actions" | tr '\n' ' ')" = "gateway.init user.create gateway.start gateway.stop gateway.start gateway.stop " ] \
  || fail "audit events: $actions"
reasons=$(sql "$dir" "SELECT details FROM audit_events WHERE action = 'gateway.stop' ORDER BY seq;")
# Plain string tests, no pipelines: under pipefail a pipe into `grep -q` can fail at random.
first_reason=${reasons%%$'\n'*}
last_reason=${reasons##*$'\n'}
[[ $first_reason == *'"reason":"SIGTERM"'* ]] || fail "first stop reason: $reasons"
[[ $last_reason == *'"reason":"SIGINT"'* ]] || fail "second stop reason: $reasons"
[[ $first_reason == *"\"pid\":$first_pid"* ]] || fail "stop event lacks the pid"
"$SEKISHOD" audit verify --data-dir "$dir" >"$TMP/verify" || fail "audit verify after clean stops: $(cat "$TMP/verify")"
grep -q "6 events" "$TMP/verify" || fail "verify saw: $(cat "$TMP/verify")"
[ "$(wc -l <"$dir/audit-checkpoints.jsonl")" -ge 3 ] || fail "too few checkpoints written"
tail -1 "$dir/audit-checkpoints.jsonl" | grep -q '"seq":6' || fail "final checkpoint does not cover the stop event"
pass "SIGTERM/SIGINT stop cleanly; start and stop are audited and checkpointed"

printf '[api]\nlisten = "127.0.0.1:0"\n[ssh]\nlisten = "127.0.0.1:0"\n[log]\nformat = "json"\n' >"$TMP/json.toml"
start_gateway "$dir" "$TMP/json.toml"
health "$dir" >/dev/null
stop_gateway TERM
python3 - "$GW_LOG" <<'PY' || fail "log is not JSON lines: $(head -3 "$GW_LOG")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(lines) >= 3, lines
assert all({"time", "level", "logger", "msg"} <= set(l) for l in lines)
assert any(l["logger"] == "api" and "/v1/health 200" in l["msg"] for l in lines)
PY
pass "[log] format = \"json\" writes one JSON object per line"

# No core dumps of the core: RLIMIT_CORE is 0 (soft and hard) and the process is not dumpable.
# Non-dumpable is visible from outside only for a process that is not root: the kernel then gives
# its /proc files to root instead of the process's own user (and refuses same-user ptrace). So a
# second data dir is served by nobody.
nobody_dir="$TMP/nobody-var"
init_data_dir "$nobody_dir"
chown -R 65534:65534 "$nobody_dir"
chmod 755 "$TMP"
GW_LOG="$TMP/serve-nobody.log"
setpriv --reuid=65534 --regid=65534 --clear-groups \
  "$SEKISHOD" serve --data-dir "$nobody_dir" --config "$TMP/json.toml" >"$GW_LOG" 2>&1 &
GW_PID=$!
STARTED_PIDS+=("$GW_PID")
wait_for_listen "$GW_LOG" "$GW_PID" 100
grep -qE '^Max core file size +0 +0 ' "/proc/$GW_PID/limits" \
  || fail "core file limit of sekishod: $(grep core "/proc/$GW_PID/limits")"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$GW_PID/status")
[ "$uid" = 65534 ] || fail "sekishod runs as uid $uid, not nobody"
[ "$(stat -c %u "/proc/$GW_PID/environ")" = 0 ] \
  || fail "sekishod is dumpable: its /proc/PID/environ belongs to uid $(stat -c %u "/proc/$GW_PID/environ")"
stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway as nobody exited $GW_RC: $(tail -3 "$GW_LOG")"
pass "sekishod runs non-dumpable with RLIMIT_CORE 0 (no core file, no same-user ptrace)"
