#!/usr/bin/env bash
# sekishod init: files, modes, JSON output, refusal to overwrite.
source "$(dirname "$0")/../harness/lib.sh"

dir="$TMP/a/var"
init_data_dir "$dir"
out="$TMP/init-var.json"
otp=$(json_field "$out" one_time_password)
[ "$(json_field "$out" operator)" = admin ] && [ "${#otp}" -eq 20 ] &&
  [[ "$(json_field "$out" ssh_host_key_fingerprint)" == SHA256:* ]] &&
  [[ "$(json_field "$out" tls_certificate_fingerprint)" == SHA256:* ]] || fail "init --json output lacks fields"
for f in master.key sekisho.db signing.key ssh_host_ed25519_key tls.key; do
  [ "$(stat -c %a "$dir/$f")" = 600 ] || fail "$f has mode $(stat -c %a "$dir/$f"), wanted 600"
done
[ "$(stat -c %a "$dir")" = 700 ] || fail "data dir has mode $(stat -c %a "$dir")"
[ "$(stat -c %a "$TMP/a")" != 700 ] || fail "init changed the parent's mode"
grep -q '^[0-9a-f]\{64\}$' "$dir/master.key" || fail "master.key is not 64 hex digits"
ssh-keygen -l -f "$dir/ssh_host_ed25519_key.pub" >/dev/null 2>&1 || fail "SSH host key unreadable by ssh-keygen"
san=$(openssl x509 -in "$dir/tls.crt" -noout -ext subjectAltName)
grep -q 'IP Address:127.0.0.1' <<<"$san" \
  || fail "TLS certificate lacks the 127.0.0.1 SAN"
want=$(json_field "$out" tls_certificate_fingerprint)
got="SHA256:$(openssl x509 -in "$dir/tls.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)"
[ "$want" = "$got" ] || fail "printed TLS fingerprint $want differs from openssl's $got"
# The operator exists with the operator role and must change the one-time password.
[ "$(sql "$dir" "SELECT u.name, r.role, u.must_change_password FROM users u JOIN user_roles r ON r.user_id = u.id;")" = "admin|operator|1" ] \
  || fail "first operator row wrong"
pass "init creates a complete data dir"

before=$(sha256sum "$dir/master.key")
expect_refusal "already exists and is not empty" 1 "$SEKISHOD" init --data-dir "$dir"
[ "$(sha256sum "$dir/master.key")" = "$before" ] || fail "a refused init touched the data dir"
mkdir -p "$TMP/b" && touch "$TMP/b/somefile"
expect_refusal "already exists and is not empty" 1 "$SEKISHOD" init --data-dir "$TMP/b"
pass "init refuses an existing data dir"

mkdir "$TMP/empty"
"$SEKISHOD" init --data-dir "$TMP/empty" --operator root-ops >"$TMP/empty.out" || fail "init into an empty dir"
grep -q "operator: *root-ops" "$TMP/empty.out" || fail "text output lacks the operator"
[ -z "$(ls -A "$TMP" | grep '\.init-' || true)" ] || fail "init left a temp dir behind"
pass "init fills an existing empty dir"

expect_refusal "--operator" 1 "$SEKISHOD" init --data-dir "$TMP/c" --operator 'bad name*'
[ ! -e "$TMP/c" ] || fail "a refused init left $TMP/c"
rc=0; "$SEKISHOD" init >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "missing --data-dir exited $rc, wanted 2"
pass "init refuses bad arguments"

libs=$(ldd "$SEKISHOD")  # captured first: `ldd | grep -q` can die of SIGPIPE under pipefail
if grep -q 'libsqlite3\.so' <<<"$libs"; then fail "sekishod links plain libsqlite3"; fi
grep -q 'libsqlcipher\.so' <<<"$libs" || fail "sekishod does not link SQLCipher"
pass "sekishod links SQLCipher and not plain SQLite"

# The SSH worker stays a slim image (docs/ssh_gateway.md "Processes"): hundreds run at once, and
# every library linked costs each of them its relocated data and start-up allocations.
worker="$(dirname "$SEKISHOD")/sekisho-worker"
[ -x "$worker" ] || fail "no sekisho-worker next to sekishod"
libs=$(ldd "$worker")
grep -q 'libssh\.so' <<<"$libs" || fail "sekisho-worker does not link libssh: $libs"
for lib in libsqlcipher libsqlite3 libldap libgnutls libcpp-httplib liboath libssl; do
  if grep -q "$lib[.-]" <<<"$libs"; then fail "sekisho-worker links $lib"; fi
done
rc=0
"$worker" --help >"$TMP/w.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] && grep -qF "started by sekishod serve" "$TMP/w.out" || fail "sekisho-worker --help: exit $rc: $(cat "$TMP/w.out")"
pass "sekisho-worker links libssh but no store, directory or HTTP library; refuses arguments"
