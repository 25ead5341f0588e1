#!/usr/bin/env bash
# TOTP enrolment scope and factor replacement through the real CLI and a real sekishod:
# - a user whose role requires TOTP and who has not enrolled gets a token that only the TOTP
#   routes (and whoami, logout) accept: everything else is refused with one exact message and an
#   access.denied audit event; after confirming, a new login with the code gives a full token;
# - replacing an enrolled factor needs its current code: without it, or with a wrong one, the
#   enrolment is refused (totp.enroll_refused) and the enrolled secret still logs in.
source "$(dirname "$0")/../harness/lib.sh"

dir="$TMP/var"
init_data_dir "$dir"
write_config "$TMP/c.toml" '[auth]
max_failures = 50
require_totp_for = ["requester"]'
start_gateway "$dir" "$TMP/c.toml"
login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 || fail "operator login"
add_users alice:requester
ssh-keygen -q -t ed25519 -N '' -C alice -f "$TMP/alice.key" </dev/null
whoami_field() { cli_as alice --json whoami | json_field - "$1"; }

# code SECRET_FILE [peek]: a TOTP code (RFC 6238) from the secret file, never one this test has
# already spent (the gateway takes each code once at login and enrol): the current step's, else
# the next one's, else the previous one's (the gateway accepts one step either side). "peek" does
# not mark it spent (confirm checks a code without spending it).
touch "$TMP/spent"
code() {
  local offset c
  for offset in 0 1 -1; do
    c=$(totp_code "$1" "$offset")
    grep -qx "$c" "$TMP/spent" && continue
    [ "${2:-}" = peek ] || echo "$c" >>"$TMP/spent"
    echo "$c"
    return 0
  done
  fail "no unspent TOTP code left in this window"
}
login_totp() {  # login_totp CODE: alice logs in with her password and CODE (stdin carries the password)
  printf '%s\n' "alice-Password-22" | cli_as alice login --user alice --password-stdin --totp "$1"
}

# --- 1. an enrolment-only token opens only the TOTP routes ---------------------------------------
scope_msg="this token may only enrol TOTP; run: sekisho totp enroll, then log in again with --totp"
[ "$(whoami_field token_scope)" = totp_enrollment ] || fail "whoami does not show the enrolment-only scope"
expect_refusal "$scope_msg" 1 cli_as alice keys add "$TMP/alice.key.pub"
expect_refusal "$scope_msg" 1 cli_as alice requests
expect_refusal "$scope_msg" 1 cli_as alice request root@web01 --reason "enrolment token" --duration 1h
expect_refusal "$scope_msg" 1 cli_as alice hosts list
[ "$(sql "$dir" "SELECT count(*) FROM ssh_keys;")" -eq 0 ] || fail "an enrolment-only token registered an SSH key"
[ "$(audit_count "$dir" access.denied totp_enrollment_only)" -eq 4 ] \
  || fail "refusals of the enrolment-only token are not audited as access.denied (reason totp_enrollment_only)"
pass "an enrolment-only token is refused on keys, requests and hosts with the exact message, audited"

totp_enroll alice "$TMP/secret1"  # with the enrolment-only token
cli_as alice totp confirm "$(code "$TMP/secret1" peek)" >/dev/null || fail "totp confirm with the enrolment-only token"
# The scope is fixed when the token is issued: confirming does not widen it.
expect_refusal "$scope_msg" 1 cli_as alice keys add "$TMP/alice.key.pub"
login_totp "$(code "$TMP/secret1")" >/dev/null || fail "login with the newly enrolled TOTP"
[ "$(whoami_field token_scope)" = full ] || fail "the login after enrolment did not give a full token"
cli_as alice keys add "$TMP/alice.key.pub" >/dev/null || fail "keys add with the full token"
pass "enrol and confirm with the enrolment-only token, then a new login with the code gives a full token"

# --- 2. replacing an enrolled factor needs its current code --------------------------------------
expect_refusal "TOTP is already enrolled: replacing it needs the current code (sekisho totp enroll --current-code CODE)" 1 \
  cli_as alice totp enroll
bad=$(wrong_totp_code "$(tail -1 "$TMP/spent")")
expect_refusal "wrong current TOTP code; the enrolled TOTP is unchanged" 1 \
  cli_as alice totp enroll --current-code "$bad"
[ "$(audit_count "$dir" totp.enroll_refused current_code_missing)" -eq 1 ] || fail "the enrol without the current code is not audited"
[ "$(audit_count "$dir" totp.enroll_refused current_code_wrong)" -eq 1 ] || fail "the enrol with a wrong current code is not audited"
[ "$(sql "$dir" "SELECT count(*) FROM users WHERE name = 'alice' AND totp_pending IS NULL;")" -eq 1 ] \
  || fail "a refused enrol left a pending secret"
login_totp "$(code "$TMP/secret1")" >/dev/null || fail "the enrolled TOTP no longer logs in after refused enrols"
pass "totp enroll without the current code or with a wrong one is refused, audited, the old code still logs in"

totp_enroll alice "$TMP/secret2" --current-code "$(code "$TMP/secret1")"
cli_as alice totp confirm "$(code "$TMP/secret2" peek)" >/dev/null || fail "confirm of the replacement"
login_totp "$(code "$TMP/secret2")" >/dev/null || fail "login with the replacement TOTP"
pass "with the current code, the factor is replaced and the new one logs in"

# On a terminal the CLI asks for the current code (`script` gives it a pseudo-terminal; the code
# goes to the prompt on the terminal, not on a command line).
printf '%s\n' "$(code "$TMP/secret2")" |
  SEKISHO_HOME="$TMP/home-alice" SEKISHO_SERVER="https://127.0.0.1:$GW_PORT" \
    timeout 30 script -qec "$SEKISHO_CLI totp enroll" /dev/null >"$TMP/tty.out" 2>&1 ||
  fail "totp enroll on a terminal: $(cat "$TMP/tty.out")"
grep -qF "Current TOTP code (to replace the enrolled one): " "$TMP/tty.out" || fail "the CLI did not ask for the current code"
grep -qF "otpauth://totp/" "$TMP/tty.out" || fail "totp enroll on a terminal gave no new secret: $(cat "$TMP/tty.out")"
[ "$(sql "$dir" "SELECT count(*) FROM users WHERE name = 'alice' AND totp_pending IS NOT NULL;")" -eq 1 ] \
  || fail "the enrol with the prompted code left no pending secret"
pass "on a terminal, totp enroll asks for the current code of an enrolled factor"

stop_gateway TERM
"$SEKISHOD" audit verify --data-dir "$dir" >/dev/null || fail "audit chain broken"
