#!/usr/bin/env bash
# sekishod rekey: the old key stops working, nothing is lost, and a rekey killed at any moment
# leaves a store that opens and verifies.
source "$(dirname "$0")/../harness/lib.sh"

dir="$TMP/var"
init_data_dir "$dir"
write_config "$TMP/c.toml"
start_gateway "$dir" "$TMP/c.toml"
expect_refusal "in use by another sekishod" 1 "$SEKISHOD" rekey --data-dir "$dir"
stop_gateway TERM

cp "$dir/master.key" "$TMP/old.key"
"$SEKISHOD" rekey --data-dir "$dir" >/dev/null || fail "rekey failed"
cmp -s "$TMP/old.key" "$dir/master.key" && fail "master.key did not change"
[ "$(stat -c %a "$dir/master.key")" = 600 ] || fail "new master.key mode"
[ ! -e "$dir/master.key.next" ] || fail "master.key.next left behind"
old_out=$({ printf 'PRAGMA key = "x'"'"'%s'"'"'";\nPRAGMA cipher_page_size = 16384;\n' "$(cat "$TMP/old.key")"; echo "SELECT count(*) FROM audit_events;"; } | sqlcipher -batch "$dir/sekisho.db" 2>&1 || true)
echo "$old_out" | grep -q "not a database" || fail "the old key still opens the store: $old_out"
[ "$(sql "$dir" "SELECT action FROM audit_events ORDER BY seq DESC LIMIT 1;")" = store.rekey ] || fail "rekey not audited"
"$SEKISHOD" audit verify --data-dir "$dir" >/dev/null || fail "chain broken by rekey"
start_gateway "$dir" "$TMP/c.toml"
health "$dir" >/dev/null || fail "gateway does not serve after rekey"
stop_gateway TERM
pass "rekey rotates the key without losing data"

# Kill rekeys at random moments (SIGKILL); every time the data dir must still open and verify.
for round in $(seq 1 12); do
  "$SEKISHOD" rekey --data-dir "$dir" >/dev/null 2>&1 &
  pid=$!
  STARTED_PIDS+=("$pid")
  sleep "0.00$((RANDOM % 10))"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  "$SEKISHOD" audit verify --data-dir "$dir" >"$TMP/v" 2>&1 || fail "round $round: $(cat "$TMP/v")"
done
[ ! -e "$dir/master.key.next" ] || fail "an interrupted rekey was not finished or undone"
pass "rekeys killed at random moments leave a consistent store"
