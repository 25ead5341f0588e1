#!/usr/bin/env bash
# Bad config, wrong/unreadable/loose master key, plaintext store, newer schema: one line, non-zero.
source "$(dirname "$0")/../harness/lib.sh"

dir="$TMP/var"
init_data_dir "$dir"
write_config "$TMP/good.toml"

printf '[api\nlisten = "x"\n' >"$TMP/syntax.toml"
expect_refusal "$TMP/syntax.toml" 1 "$SEKISHOD" serve --data-dir "$dir" --config "$TMP/syntax.toml"
printf '[api]\nlisten = "127.0.0.1:0"\nlisen = "x"\n' >"$TMP/typo.toml"
expect_refusal "$TMP/typo.toml: api.lisen: unknown key" 1 "$SEKISHOD" serve --data-dir "$dir" --config "$TMP/typo.toml"
printf '[api]\nlisten = "localhost"\n' >"$TMP/listen.toml"
expect_refusal "api.listen: expected" 1 "$SEKISHOD" serve --data-dir "$dir" --config "$TMP/listen.toml"
expect_refusal "cannot read $TMP/none.toml" 1 "$SEKISHOD" serve --data-dir "$dir" --config "$TMP/none.toml"
pass "config errors name file, key and reason"

# Wrong key: a different valid key in master.key.
cp -a "$dir" "$TMP/wrong"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/wrong/master.key"
echo >>"$TMP/wrong/master.key"
expect_refusal "master key does not open store" 1 "$SEKISHOD" serve --data-dir "$TMP/wrong" --config "$TMP/good.toml"
expect_refusal "master key does not open store" 1 "$SEKISHOD" audit verify --data-dir "$TMP/wrong"
pass "a wrong master key is refused"

cp -a "$dir" "$TMP/loose" && chmod 644 "$TMP/loose/master.key"
expect_refusal "chmod 600" 1 "$SEKISHOD" serve --data-dir "$TMP/loose" --config "$TMP/good.toml"
cp -a "$dir" "$TMP/missing" && rm "$TMP/missing/master.key"
expect_refusal "cannot read $TMP/missing/master.key" 1 "$SEKISHOD" serve --data-dir "$TMP/missing" --config "$TMP/good.toml"
cp -a "$dir" "$TMP/garbled" && echo "not-a-key" >"$TMP/garbled/master.key"
expect_refusal "malformed" 1 "$SEKISHOD" audit verify --data-dir "$TMP/garbled"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  # Root reads any file: show "unreadable" as an unprivileged user (nobody) would meet it.
  cp -a "$dir" "$TMP/unreadable" && chmod 755 "$TMP" "$TMP/unreadable" && chmod 644 "$TMP/unreadable/signing.pub" "$TMP/unreadable/audit-checkpoints.jsonl"
  expect_refusal "master key: cannot read" 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$SEKISHOD" audit verify --data-dir "$TMP/unreadable"
  chmod 700 "$TMP"
fi
pass "loose, missing, malformed and unreadable key files are refused"

cp -a "$dir" "$TMP/plain" && rm "$TMP/plain/sekisho.db"
sqlite3 "$TMP/plain/sekisho.db" "CREATE TABLE t (x); INSERT INTO t VALUES ('hello');"
expect_refusal "plaintext SQLite file" 1 "$SEKISHOD" serve --data-dir "$TMP/plain" --config "$TMP/good.toml"
pass "a plaintext store is refused"

cp -a "$dir" "$TMP/newer"
sql "$TMP/newer" "PRAGMA user_version = 99;" >/dev/null
expect_refusal "store schema version 99 is newer" 1 "$SEKISHOD" serve --data-dir "$TMP/newer" --config "$TMP/good.toml"
pass "a newer schema is refused"

start_gateway "$dir" "$TMP/good.toml"
stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "the untouched data dir no longer serves"
pass "the original data dir still serves"
