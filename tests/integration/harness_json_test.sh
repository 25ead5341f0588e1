#!/usr/bin/env bash
# The JSON helpers of tests/harness/lib.sh that the other tests' assertions rest on: json_field and
# json_rows read the documented paths, print values in the documented form, and fail (exit 1,
# one line naming the path) on a missing field without printing the document, which may hold a
# secret.
source "$(dirname "$0")/../harness/lib.sh"

cat >"$TMP/doc.json" <<'JSON'
{"secret": "s3cr3t-value", "ok": true, "n": 3, "none": null,
 "sessions": [{"id": "a", "state": "open", "end_reason": null, "note": "tab\there"},
              {"id": "b", "state": "closed", "end_reason": "exit 0", "note": "two\nlines"}],
 "roles": ["requester", "approver"]}
JSON

doc=$TMP/doc.json
[ "$(json_field "$doc" sessions.1.end_reason)" = "exit 0" ] || fail "json_field path with an index"
[ "$(json_field - ok <"$TMP/doc.json")" = true ] || fail "json_field: a boolean as JSON, from stdin"
[ "$(json_field "$TMP/doc.json" n)" = 3 ] && [ "$(json_field "$TMP/doc.json" none)" = null ] ||
  fail "json_field: numbers and null as JSON"
[ "$(json_field "$doc" roles)" = '["requester", "approver"]' ] || fail "json_field: a list as JSON"
pass "json_field reads keys and indices from a file or stdin; non-strings as JSON"

expect_refusal "json_field: no sessions.2.id in $doc" 1 json_field "$doc" sessions.2.id
! grep -qF "s3cr3t-value" "$TMP/err" || fail "json_field's error shows the document"
field_from_stdin() { json_field - "$1" <"$TMP/doc.json"; }
expect_refusal "json_field: no secrets in stdin" 1 field_from_stdin secrets
pass "json_field fails with one line naming the missing path, never the document"

rows=$(json_rows "$TMP/doc.json" sessions id state end_reason)
[ "$rows" = "a"$'\t'"open"$'\t'$'\n'"b"$'\t'"closed"$'\t'"exit 0" ] || fail "json_rows: $rows"
[ "$(json_rows "$doc" sessions note | wc -l)" -eq 2 ] || fail "json_rows: a line split"
[ "$(json_rows - roles <"$TMP/doc.json" | sort | paste -sd,)" = approver,requester ] ||
  fail "json_rows of a list of strings"
expect_refusal "json_rows: no host in an element of sessions" 1 json_rows "$doc" sessions id host
expect_refusal "json_rows: no hits in $TMP/doc.json" 1 json_rows "$TMP/doc.json" hits id
pass "json_rows: a line per element, tab-separated fields, null empty; missing field or list fails"
