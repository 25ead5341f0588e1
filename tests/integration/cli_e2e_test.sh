#!/usr/bin/env bash
# The sekisho CLI against a real sekishod: first login with a password change pins the gateway
# certificate; users, keys, hosts and accounts commands; two SEKISHO_HOME dirs as two users;
# logout; a gateway with a new certificate at the same address is refused before any request.
source "$(dirname "$0")/../harness/lib.sh"

: "${SEKISHO_BUILD_DIR:?SEKISHO_BUILD_DIR must point at the build dir (ctest sets it)}"
SEKISHO="$SEKISHO_BUILD_DIR/bin/sekisho"
[ -x "$SEKISHO" ] || fail "no sekisho binary at $SEKISHO"
unset SEKISHO_SERVER SEKISHO_HOME

mode_of() { stat -c %a "$1"; }

# as HOME_DIR CMD...: runs the CLI as the user whose state is in HOME_DIR; no controlling
# terminal (setsid), so that nothing can stop at a prompt.
as() {
  local home=$1
  shift
  SEKISHO_HOME="$home" setsid -w "$SEKISHO" "$@"
}

dir="$TMP/var"
init_data_dir "$dir"
otp=$(json_field "$TMP/init-var.json" one_time_password)
cert_fp=$(json_field "$TMP/init-var.json" tls_certificate_fingerprint)
write_config "$TMP/c.toml"
start_gateway "$dir" "$TMP/c.toml"
export SEKISHO_SERVER="https://127.0.0.1:$GW_PORT"
admin="$TMP/home-admin"
alice="$TMP/home-alice"

# --- usage errors and refusals that need no gateway state -----------------------------------
expect_refusal "NAME is required" 2 as "$admin" users add --roles requester
expect_refusal "--protocol: telnet not in {ssh,rdp}" 2 as "$admin" hosts add web01 --address 10.0.0.1 --protocol telnet
expect_refusal "--password-stdin excludes --key" 2 as "$admin" accounts add root@web01 --password-stdin --key /etc/hostname
expect_refusal "--password-stdin" 1 as "$admin" login --user admin
expect_refusal "not logged in to $SEKISHO_SERVER" 1 as "$admin" whoami
pass "usage errors exit 2; no terminal and no --password-stdin is refused; whoami needs a login"

# --- first login: one-time password on line 1, the new password on line 2 --------------------
admin_pw="admin-New-Passw0rd!"
printf '%s\n%s\n' "$otp" "$admin_pw" | as "$admin" login --user admin --password-stdin \
  >"$TMP/login.out" 2>"$TMP/login.err" || fail "first login failed: $(cat "$TMP/login.err")"
# The signing key's fingerprint as recordings name it: the first 16 hex digits of the SHA-256 of
# its PEM text.
signing_fp=$(python3 -c 'import hashlib,sys
print(hashlib.sha256(open(sys.argv[1]).read().strip().encode()).hexdigest()[:16])' "$dir/signing.pub")
[ "$(sed -n 1p "$TMP/login.err")" = "pinned gateway certificate $cert_fp" ] \
  && [ "$(sed -n 2p "$TMP/login.err")" = "pinned gateway signing key $signing_fp" ] \
  && [ "$(wc -l <"$TMP/login.err")" -eq 2 ] \
  || fail "pin lines on stderr (wanted the certificate, then the signing key $signing_fp): $(cat "$TMP/login.err")"
grep -q "logged in to $SEKISHO_SERVER as admin" "$TMP/login.out" || fail "login said: $(cat "$TMP/login.out")"
[ "$(mode_of "$admin")" = 700 ] || fail "SEKISHO_HOME mode $(mode_of "$admin")"
for f in session.json token known_gateways.json; do
  [ "$(mode_of "$admin/$f")" = 600 ] || fail "$f mode $(mode_of "$admin/$f")"
done
grep -qF "$cert_fp" "$admin/known_gateways.json" || fail "pin file lacks the certificate"
token=$(cat "$admin/token")
[ ${#token} -ge 40 ] || fail "token file holds ${#token} bytes"
if grep -qF -- "$token" "$TMP/login.out" "$TMP/login.err" "$admin/session.json" "$GW_LOG"; then
  fail "the token was printed, logged or stored outside the token file"
fi
if grep -qF -- "$admin_pw" "$GW_LOG" || grep -qF -- "$otp" "$GW_LOG"; then
  fail "a password reached the gateway log"
fi
# The one-time password is spent: it no longer logs in.
expect_refusal "wrong user name or password" 1 sh -c "printf '%s\n' '$otp' | SEKISHO_HOME='$TMP/home-x' setsid -w '$SEKISHO' login --user admin --password-stdin"
pass "first login changes the one-time password, pins the certificate, keeps the token private"

as "$admin" whoami >"$TMP/who" || fail "whoami failed"
grep -qE '^user +admin$' "$TMP/who" || fail "whoami: $(cat "$TMP/who")"
grep -qE '^roles +operator$' "$TMP/who" || fail "whoami roles: $(cat "$TMP/who")"
as "$admin" --json whoami >"$TMP/who.json"
[ "$(json_field "$TMP/who.json" user)" = admin ] || fail "whoami --json: $(cat "$TMP/who.json")"
pass "whoami shows the operator (table and --json)"

# --- users -----------------------------------------------------------------------------------
echo "alice-Initial-1" | as "$admin" users add alice --roles requester,approver --password-stdin \
  >"$TMP/ua" || fail "users add failed"
grep -q "user alice created" "$TMP/ua" || fail "users add said: $(cat "$TMP/ua")"
expect_refusal "password: at least 12 characters" 1 sh -c "echo x | SEKISHO_HOME='$admin' '$SEKISHO' users add alice --roles requester --password-stdin"
as "$admin" users list >"$TMP/ul"
head -1 "$TMP/ul" | grep -qE '^NAME +ROLES +SOURCE +STATE +CREATED$' || fail "users list header: $(head -1 "$TMP/ul")"
grep -qE '^alice +approver,requester +local +active ' "$TMP/ul" || fail "users list: $(cat "$TMP/ul")"
users=$(as "$admin" users list --json | json_rows - users name disabled | sort)
[ "$(cut -f1 <<<"$users" | paste -sd' ')" = "admin alice" ] && grep -qxF "alice"$'\t'false <<<"$users" \
  || fail "users list --json: $users"
pass "users add (password from stdin) and users list (table, --json); duplicate refused"

# --- a second SEKISHO_HOME acts as a second user ----------------------------------------------
printf 'alice-Initial-1\nalice-New-Passw0rd\n' | as "$alice" login --user alice --password-stdin \
  >/dev/null 2>"$TMP/alice.err" || fail "alice's login failed: $(cat "$TMP/alice.err")"
grep -qE '^user +alice$' <(as "$alice" whoami) || fail "alice's home does not act as alice"
grep -qE '^user +admin$' <(as "$admin" whoami) || fail "admin's home changed user"
expect_refusal "this needs the operator or auditor role" 1 as "$alice" users list
pass "two SEKISHO_HOME dirs act as two users; alice (no operator role) cannot list users"

# --- keys --------------------------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C "alice@laptop" -f "$TMP/alice_key"
key_fp=$(ssh-keygen -lf "$TMP/alice_key.pub" | awk '{print $2}')
as "$alice" keys add "$TMP/alice_key.pub" >"$TMP/ka" || fail "keys add failed"
grep -qF "$key_fp" "$TMP/ka" || fail "keys add said: $(cat "$TMP/ka")"
expect_refusal "private key" 1 as "$alice" keys add "$TMP/alice_key"
as "$alice" keys list >"$TMP/kl"
grep -F "$key_fp" "$TMP/kl" | grep -qE '^SHA256:[^ ]+ +ssh-ed25519 +alice@laptop ' || fail "keys list: $(cat "$TMP/kl")"
[ "$(as "$admin" keys list | wc -l)" -eq 1 ] || fail "admin sees alice's key"
as "$alice" keys remove "$key_fp" >/dev/null || fail "keys remove failed"
[ "$(as "$alice" --json keys list | json_field - keys)" = "[]" ] \
  || fail "key still listed after removal"
pass "keys add/list/remove with an ssh-keygen key; a private key file is refused"

# --- hosts and accounts (rdp: the gateway probes no host key for it) ---------------------------
as "$admin" hosts list >"$TMP/hl"
[ "$(cat "$TMP/hl")" = "NAME  ADDRESS  PROTOCOL  GROUP  HOST KEY" ] || fail "empty hosts list: $(cat "$TMP/hl")"
expect_refusal "win01" 1 as "$admin" hosts show win01
as "$admin" hosts add win01 --address '[::1]' --protocol rdp --group windows >/dev/null \
  || fail "hosts add failed"
as "$admin" hosts list >"$TMP/hl"
grep -qE '^win01 +\[::1\]:3389 +rdp +windows' "$TMP/hl" || fail "hosts list: $(cat "$TMP/hl")"
echo "Vaulted-Secret-9" | as "$admin" accounts add Administrator@win01 --password-stdin \
  --rotate-every 30d >"$TMP/aa" || fail "accounts add failed"
grep -q "account Administrator@win01 vaulted (password)" "$TMP/aa" || fail "accounts add: $(cat "$TMP/aa")"
as "$admin" hosts show win01 >"$TMP/hs"
grep -qE '^address +\[::1\]:3389$' "$TMP/hs" || fail "hosts show: $(cat "$TMP/hs")"
grep -qE '^Administrator +password +30d' "$TMP/hs" || fail "hosts show accounts: $(cat "$TMP/hs")"
if grep -qF "Vaulted-Secret-9" "$TMP/hs" "$GW_LOG"; then fail "the vaulted password was shown"; fi
expect_refusal "this needs the operator role" 1 as "$alice" hosts remove win01
as "$admin" hosts remove win01 >/dev/null || fail "hosts remove failed"
expect_refusal "win01" 1 as "$admin" hosts show win01
pass "hosts list/show/add/remove and accounts add (ACCOUNT@HOST, rotate-every)"

# --- disable, logout ---------------------------------------------------------------------------
as "$admin" users disable alice >/dev/null || fail "users disable failed"
expect_refusal "session expired or revoked" 1 as "$alice" whoami
as "$admin" logout >"$TMP/lo" || fail "logout failed"
[ ! -e "$admin/token" ] || fail "the token file survived logout"
expect_refusal "not logged in" 1 as "$admin" whoami
pass "users disable revokes alice's session; logout forgets the token and whoami is refused"

# --- a new gateway (new certificate) at the same address is refused -----------------------------
printf '%s\n' "$admin_pw" | as "$admin" login --user admin --password-stdin >/dev/null 2>&1 \
  || fail "second login failed"
port=$GW_PORT
stop_gateway TERM
init_data_dir "$TMP/var2"
new_fp=$(json_field "$TMP/init-var2.json" tls_certificate_fingerprint)
printf '[api]\nlisten = "127.0.0.1:%s"\n[ssh]\nlisten = "127.0.0.1:0"\n' "$port" >"$TMP/c2.toml"
start_gateway "$TMP/var2" "$TMP/c2.toml"
[ "$GW_PORT" = "$port" ] || fail "the new gateway is not at the same port"
otp2=$(json_field "$TMP/init-var2.json" one_time_password)
expect_refusal "the gateway's certificate changed (pinned $cert_fp, presented $new_fp); if this is expected, remove $admin/known_gateways.json and log in again" \
  1 sh -c "printf '%s\n%s\n' '$otp2' 'x-New-Passw0rd' | SEKISHO_HOME='$admin' setsid -w '$SEKISHO' login --user admin --password-stdin"
expect_refusal "certificate changed" 1 as "$admin" whoami
if grep -q ' /v1/' "$GW_LOG"; then fail "a request reached the impostor: $(grep ' /v1/' "$GW_LOG")"; fi
pass "a different certificate at the pinned address is refused before any request is sent"
