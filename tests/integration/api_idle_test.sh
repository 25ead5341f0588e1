#!/usr/bin/env bash
# The HTTPS API survives idle connections (issue 12, "Login and limits"): connections from one
# address that never speak, stall inside the TLS handshake or stall inside a request head hold no
# thread that serves requests, so /v1/health (and with it approvals and break-glass requests)
# still answers another address. Beyond [api] max_connections_per_source a source's connections
# are closed at once; a handshake that does not finish within [api] handshake_timeout is closed.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"
count=${SEKISHO_IDLE_CONNECTIONS:-64}

dir="$TMP/var"
init_data_dir "$dir"

# hold NAME MODE COUNT SECONDS: starts idle_clients.py from 127.0.0.2 and waits (bounded) until it
# opened its connections; the status file is $TMP/NAME.
hold() {
  local name=$1 mode=$2 n=$3 secs=$4 i
  python3 "$harness/idle_clients.py" "$GW_PORT" 127.0.0.2 "$n" "$mode" "$dir/tls.crt" \
    "$TMP/$name" "$secs" &
  HOLD_PID=$!
  STARTED_PIDS+=("$HOLD_PID")
  for i in $(seq 1 600); do
    grep -q '^ready' "$TMP/$name" 2>/dev/null && return 0
    kill -0 "$HOLD_PID" 2>/dev/null || fail "idle_clients.py ($mode) exited early"
    sleep 0.1
  done
  fail "idle_clients.py ($mode) did not open $n connections within 60 s"
}

# status_of NAME KEY: the open= or closed= count of a holder.
status_of() { grep -o "$2=[0-9]*" "$TMP/$1" | grep -o '[0-9]*$'; }

# wait_closed NAME N TENTHS: waits (at most TENTHS tenths of a second) until N of the holder's
# connections were closed by the gateway.
wait_closed() {
  local i
  for i in $(seq 1 "$3"); do
    [ "$(status_of "$1" closed)" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

stop_holder() { kill -TERM "$HOLD_PID" 2>/dev/null || true; wait "$HOLD_PID" 2>/dev/null || true; }

# 1. The defaults: many silent connections from 127.0.0.2, then a health check from 127.0.0.1.
write_config "$TMP/default.toml"
start_gateway "$dir" "$TMP/default.toml"
hold idle idle "$count" 120
body=$(health "$dir") || fail "/v1/health got no answer within 10 s while $count idle connections were held"
[[ $body == *'"status":"ok"'* ]] || fail "health said $body"
stop_holder
pass "/v1/health answers 127.0.0.1 while 127.0.0.2 holds $count idle connections (default config)"
stop_gateway TERM

# 2. The per-source cap: with a long handshake timeout only the cap can close connections early.
printf '[api]\nlisten = "127.0.0.1:0"\nmax_connections_per_source = 8\nhandshake_timeout = "120s"\n[ssh]\nlisten = "127.0.0.1:0"\n' >"$TMP/cap.toml"
start_gateway "$dir" "$TMP/cap.toml"
hold cap idle "$count" 120
wait_closed cap $((count - 8)) 100 ||
  fail "of $count idle connections $(status_of cap closed) were closed, wanted $((count - 8)) closed at once"
sleep 0.5  # a connection within the cap closed by mistake would show up here
[ "$(status_of cap open)" -eq 8 ] || fail "$(status_of cap open) connections stayed open, wanted the cap (8)"
health "$dir" >/dev/null || fail "/v1/health got no answer while 127.0.0.2 was at its cap"
stop_holder
grep -q 'api: 127.0.0.2 has 8 connections (max_connections_per_source): closing a new one' "$GW_LOG" ||
  fail "no log line for the connections refused at the cap"
pass "connections from 127.0.0.2 beyond max_connections_per_source (8) are closed at once; 8 stay"
stop_gateway TERM

# 3. A cap above what is held: idle, half-ClientHello and half-request connections together hold
# no serving thread.
printf '[api]\nlisten = "127.0.0.1:0"\nmax_connections_per_source = 1000\nhandshake_timeout = "120s"\n[ssh]\nlisten = "127.0.0.1:0"\n' >"$TMP/wide.toml"
start_gateway "$dir" "$TMP/wide.toml"
holders=()
for mode in idle partial-hello partial-http; do
  hold "wide-$mode" "$mode" "$count" 120
  holders+=("$HOLD_PID")
done
for mode in idle partial-hello partial-http; do
  [ "$(status_of "wide-$mode" open)" -eq "$count" ] || fail "$mode: only $(status_of "wide-$mode" open) of $count held"
done
body=$(health "$dir") || fail "/v1/health got no answer within 10 s while $((3 * count)) stalled connections were held"
[[ $body == *'"status":"ok"'* ]] || fail "health said $body"
for HOLD_PID in "${holders[@]}"; do stop_holder; done
pass "/v1/health answers while $count idle, $count half-ClientHello and $count half-request connections are held"
stop_gateway TERM

# 4. The handshake timeout closes a stalled handshake (the old code waited its 10 s read timeout).
printf '[api]\nlisten = "127.0.0.1:0"\nhandshake_timeout = "1s"\n[ssh]\nlisten = "127.0.0.1:0"\n' >"$TMP/short.toml"
start_gateway "$dir" "$TMP/short.toml"
hold short partial-hello 4 60
wait_closed short 4 80 || fail "a handshake stalled for 8 s was not closed (handshake_timeout = 1s)"
stop_holder
hold short-idle idle 4 60
wait_closed short-idle 4 80 || fail "a silent connection was not closed within 8 s (handshake_timeout = 1s)"
stop_holder
health "$dir" >/dev/null || fail "health after the timeouts"
pass "stalled handshakes and silent connections are closed after handshake_timeout"
stop_gateway TERM
