#!/usr/bin/env bash
# An attacker with the master key edits the store with the real sqlcipher CLI; `sekishod audit
# verify` (offline) names what was done.
source "$(dirname "$0")/../harness/lib.sh"

base="$TMP/base"
init_data_dir "$base"
write_config "$TMP/c.toml"
for i in 1 2 3; do
  start_gateway "$base" "$TMP/c.toml"
  stop_gateway TERM
done
"$SEKISHOD" audit verify --data-dir "$base" >"$TMP/ok" || fail "untouched chain does not verify"
grep -q "audit chain intact: 8 events" "$TMP/ok" || fail "unexpected: $(cat "$TMP/ok")"
pass "untouched chain verifies offline"

# scenario NAME SQL NEEDLE: copy the data dir, tamper, expect verify to fail naming the problem.
scenario() {
  local d="$TMP/$1"
  cp -a "$base" "$d"
  [ -z "$2" ] || sql "$d" "$2" >/dev/null
  expect_refusal "$3" 1 "$SEKISHOD" audit verify --data-dir "$d"
  pass "$1 detected: $(cat "$TMP/err")"
}

scenario edited "UPDATE audit_events SET actor = 'mallory' WHERE seq = 4;" "audit event 4 was altered"
scenario edited-details "UPDATE audit_events SET details = '{}' WHERE seq = 2;" "audit event 2 was altered"
scenario deleted "DELETE FROM audit_events WHERE seq = 5;" "audit events 5..5 are missing"
scenario renumbered "DELETE FROM audit_events WHERE seq = 5; UPDATE audit_events SET seq = seq - 1 WHERE seq > 5;" "audit event 5 does not follow event 4"
scenario swapped "UPDATE audit_events SET seq = 100 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = 6; UPDATE audit_events SET seq = 6 WHERE seq = 100;" "audit event 3 does not follow"
scenario inserted "INSERT INTO audit_events SELECT 9, time, 'mallory', action, target, details, hash, hash FROM audit_events WHERE seq = 8;" "audit event 9 was altered"
scenario truncated "DELETE FROM audit_events WHERE seq > 6;" "audit log truncated"

cp -a "$base" "$TMP/nocp" && rm "$TMP/nocp/audit-checkpoints.jsonl"
expect_refusal "no signed checkpoint" 1 "$SEKISHOD" audit verify --data-dir "$TMP/nocp"
pass "deleted checkpoint file detected"

cp -a "$base" "$TMP/forged"
sed -i '$ s/"seq":[0-9]*/"seq":99/' "$TMP/forged/audit-checkpoints.jsonl"
expect_refusal "signature does not verify" 1 "$SEKISHOD" audit verify --data-dir "$TMP/forged"
pass "forged checkpoint detected"

openssl genpkey -algorithm ed25519 -out "$TMP/other.key" 2>/dev/null
openssl pkey -in "$TMP/other.key" -pubout -out "$TMP/other.pub" 2>/dev/null
expect_refusal "signature does not verify" 1 "$SEKISHOD" audit verify --data-dir "$base" --public-key "$TMP/other.pub"
cp "$base/signing.pub" "$TMP/kept.pub"
"$SEKISHOD" audit verify --data-dir "$base" --public-key "$TMP/kept.pub" >/dev/null || fail "verify with the kept public key"
pass "checkpoints are checked against the auditor's copy of the public key"

"$SEKISHOD" audit verify --data-dir "$base" --json >"$TMP/json" || fail "verify --json"
[ "$(json_field "$TMP/json" ok)" = true ] && [ "$(json_field "$TMP/json" events)" -eq 8 ] &&
  [ "$(json_field "$TMP/json" checkpoints_matched)" -ge 3 ] || fail "verify --json: $(cat "$TMP/json")"
pass "verify --json reports counts"
