#!/usr/bin/env bash
# The store is unreadable without the key: plain sqlite3 fails, and neither the database nor its
# WAL holds plaintext, also while the gateway runs.
source "$(dirname "$0")/../harness/lib.sh"

dir="$TMP/var"
init_data_dir "$dir"
rc=0
sqlite3 "$dir/sekisho.db" "SELECT * FROM sqlite_master;" >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "sqlite3 read the store without a key: $(cat "$TMP/out")"
grep -q "not a database" "$TMP/out" || fail "sqlite3 said: $(cat "$TMP/out")"
pass "sqlite3 cannot read the store"

write_config "$TMP/c.toml"
start_gateway "$dir" "$TMP/c.toml"
health "$dir" >/dev/null
[ -s "$dir/sekisho.db-wal" ] || fail "expected a WAL file while the gateway runs"
key=$(cat "$dir/master.key")
for f in "$dir/sekisho.db" "$dir/sekisho.db-wal"; do
  # Needles of 5+ bytes: a shorter one turns up in random ciphertext now and then.
  for word in "SQLite format 3" gateway.start gateway.init user.create audit_events admin operator '$y$j9T$' "$key"; do
    if grep -aqF -- "$word" "$f"; then fail "$(basename "$f") contains plaintext '$word'"; fi
  done
done
stop_gateway TERM
for word in gateway.stop admin "$key"; do
  if grep -aqF -- "$word" "$dir/sekisho.db"; then fail "sekisho.db contains plaintext '$word' after stop"; fi
done
pass "no plaintext in the database or its WAL"
