#!/usr/bin/env bash
# Local-directory logins through the real CLI: the init operator's forced password change,
# throttling per user and per source, and TOTP enrolment, requirement and wrong codes.
source "$(dirname "$0")/../harness/lib.sh"

dir="$TMP/var"
init_data_dir "$dir"
printf '[api]\nlisten = "127.0.0.1:0"\n[ssh]\nlisten = "127.0.0.1:0"\n[auth]\nmax_failures = 3\nlockout = "10m"\n' >"$TMP/c.toml"
start_gateway "$dir" "$TMP/c.toml"
otp=$(one_time_password "$dir")

# First login: the one-time password alone is not enough; stdin line 2 sets the new password.
expect_refusal "new password" 1 login_as op admin "$otp"
login_as op admin "$otp" "operator-Password-1" 2>"$TMP/pin" || fail "first login with a new password"
grep -q "pinned gateway certificate SHA256:" "$TMP/pin" || fail "first login did not report the pinned certificate"
expect_refusal "wrong user name or password" 1 login_as op2 admin "$otp"
login_as op admin "operator-Password-1" || fail "login with the new password"
pass "the one-time password must be replaced at first login and is then dead"

# The first login pinned the gateway's recording signing key beside its certificate; a gateway
# that later presents another key is refused (and no session is saved).
grep -q "pinned gateway signing key " "$TMP/pin" || fail "first login did not report the pinned signing key"
python3 - "$TMP/home-op/known_gateways.json" "$dir/signing.pub" <<'PY' || fail "the pinned signing key is not the gateway's"
import json, sys
pins = json.load(open(sys.argv[1]))
assert [e["signing_key"].strip() for e in pins.values()] == [open(sys.argv[2]).read().strip()]
PY
cp -a "$TMP/home-op" "$TMP/home-op3"
rm -f "$TMP/home-op3/session.json" "$TMP/home-op3/token"
openssl genpkey -algorithm ed25519 -out "$TMP/other.key" 2>/dev/null
openssl pkey -in "$TMP/other.key" -pubout -out "$TMP/other.pub"
python3 - "$TMP/home-op3/known_gateways.json" "$TMP/other.pub" <<'PY'
import json, sys
pins = json.load(open(sys.argv[1]))
for e in pins.values():
    e["signing_key"] = open(sys.argv[2]).read()
json.dump(pins, open(sys.argv[1], "w"))
PY
expect_refusal "differs from the one pinned at first login" 1 login_as op3 admin "operator-Password-1"
[ ! -e "$TMP/home-op3/token" ] || fail "a refused signing key still saved a session"
pass "login pins the gateway's signing key and refuses another one"

printf '%s\n' "alice-Initial-pw1" | cli_as op users add alice --roles requester --password-stdin >/dev/null \
  || fail "users add alice"
login_as alice alice "alice-Initial-pw1" "alice-Password-22" || fail "alice's first login"
# max_failures = 3 counts per user and per source: the op2 failure above is this source's first.
expect_refusal "wrong user name or password" 1 login_as x alice nope1
expect_refusal "wrong user name or password" 1 login_as x alice nope2
expect_refusal "too many failed logins" 1 login_as x alice "alice-Password-22"
expect_refusal "too many failed logins" 1 login_as x admin "operator-Password-1"
pass "after 3 failures from one source, logins are locked out, even with the right password"

# TOTP, with the operator. The lockout lives in memory: a restarted gateway (on a new port, so a
# new server URL for the CLI) starts without it.
stop_gateway TERM
start_gateway "$dir" "$TMP/c.toml"
login_as op admin "operator-Password-1" 2>/dev/null || fail "login after restart"
secret_file="$TMP/totp.secret"
totp_enroll op "$secret_file"
grep -q '^otpauth://totp/' <<<"$(json_field "$secret_file.json" uri)" || fail "enroll gave no otpauth URI"
expect_refusal "wrong TOTP code" 1 cli_as op totp confirm 000000
cli_as op totp confirm "$(totp_code "$secret_file")" >/dev/null || fail "totp confirm with the right code"
[ "$(cli_as op --json whoami | json_field - totp_enrolled)" = true ] \
  || fail "whoami does not show TOTP enrolled"
expect_refusal "TOTP code is required" 1 login_as op admin "operator-Password-1"
bad=$(wrong_totp_code "$(totp_code "$secret_file")")
expect_refusal "wrong TOTP code" 1 \
  bash -c 'printf "%s\n" "$3" | SEKISHO_HOME="$1" SEKISHO_SERVER="$2" "$4" login --user admin --password-stdin --totp "$5"' \
  _ "$TMP/home-op" "https://127.0.0.1:$GW_PORT" "operator-Password-1" "$SEKISHO_CLI" "$bad"
printf '%s\n' "operator-Password-1" | cli_as op login --user admin --password-stdin --totp "$(totp_code "$secret_file")" \
  || fail "login with password and TOTP"
pass "TOTP: enrol, confirm, then required and checked at login"

stop_gateway TERM
actions=$(audit_actions "$dir")
for a in login.password_change_required user.password_change login.lockout login.throttled totp.enroll totp.confirm user.create; do
  grep -qx "$a" <<<"$actions" || fail "no $a in the audit log"
done
"$SEKISHOD" audit verify --data-dir "$dir" >/dev/null || fail "audit chain broken"
pass "logins, lockouts and TOTP changes are audited"
