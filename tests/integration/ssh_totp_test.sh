#!/usr/bin/env bash
# TOTP after a public key on SSH, with real parts: a real sekishod, a real sshd host web01, the real
# OpenSSH client logging in with a key and answering the keyboard-interactive TOTP prompt through
# SSH_ASKPASS (a script reading the code from a 0600 file: no code on a command line). As OpenSSH's
# `AuthenticationMethods publickey,keyboard-interactive`: an enrolled user's key alone is not a
# login; right code → a recorded session, wrong or replayed code → refused and audited; a role that
# requires TOTP without one enrolled → refused with the way out; a user without TOTP → one step.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
write_ssh_config "$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"
mkdir -p "$TMP/web01"
read -r _ web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
ssh_granted_session "$dir" "$TMP/web01" web01  # alice (requester, key, granted), bob, audrey
add_users carol:requester
for who in carol audrey; do
  ssh-keygen -q -t ed25519 -N '' -C "$who" -f "$TMP/$who.key" </dev/null
  cli_as "$who" keys add "$TMP/$who.key.pub" >/dev/null || fail "keys add $who"
done
id=$(cli_as carol request root@web01 --reason "totp test" --duration 1h) || fail "request carol"
cli_as bob approve "$id" >/dev/null || fail "approve carol"

# alice enrols TOTP; the secret stays in a 0600 file of the temp dir.
secret_file="$TMP/totp.secret"
totp_enroll alice "$secret_file"
cli_as alice totp confirm "$(totp_code "$secret_file")" >/dev/null || fail "totp confirm"

# The auditor role now requires TOTP: audrey (key registered, nothing enrolled) must enrol first.
# Her key was added while her role did not require it; the rule comes with a restart.
stop_gateway TERM
write_config "$TMP/c2.toml" "
[ssh]
listen = \"127.0.0.1:0\"
[auth]
max_failures = 1000
require_totp_for = [\"auditor\"]
[[policy]]
name = \"all\"
hosts = [\"*\"]
requesters = [\"role:requester\"]
approvers = [\"role:approver\"]
approvals = 1
max_duration = \"4h\"
"
start_ssh_gateway "$dir" "$TMP/c2.toml"

# The askpass program logs the prompts it was asked (never the answers) and answers the Nth TOTP
# prompt with line N of the answers file.
ask="$TMP/ask"
mkdir -m 0700 "$ask"
cat >"$ask/askpass.sh" <<'SH'
#!/bin/sh
d=$(dirname "$0")
printf '%s\n' "$1" >>"$d/prompts"
case "$1" in
  *"TOTP code:"*) sed -n "$(grep -c 'TOTP code:' "$d/prompts")p" "$d/totp" ;;
  *) exit 1 ;;
esac
SH
chmod 0700 "$ask/askpass.sh"
answer() { (umask 077; printf '%s\n' "$@" >"$ask/totp"); : >"$ask/prompts"; }
# key_ssh WHO ARGS...: OpenSSH with WHO's key, then keyboard-interactive (ROUNDS rounds, default
# one); sets RC, OUT, ERR. Bounded by timeout.
key_ssh() {
  local who=$1
  shift
  RC=0
  SSH_ASKPASS="$ask/askpass.sh" SSH_ASKPASS_REQUIRE=force timeout 30 ssh -F /dev/null \
    -p "$SSH_PORT" -i "$TMP/$who.key" -o IdentitiesOnly=yes \
    -o PreferredAuthentications=publickey,keyboard-interactive -o PasswordAuthentication=no \
    -o NumberOfPasswordPrompts="${ROUNDS:-1}" -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$TMP/known_hosts" -o ConnectTimeout=10 "$@" \
    >"$TMP/out" 2>"$TMP/err" </dev/null || RC=$?
  OUT=$(cat "$TMP/out")
  ERR=$(cat "$TMP/err")
  printf '%s\n%s\n' "$OUT" "$ERR" >>"$TMP/all-output"
}
sessions_of() { sql "$dir" "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.name = '$1';"; }

# --- a user without TOTP: the key alone, as before --------------------------------------------
answer 000000
key_ssh carol root@web01@127.0.0.1 'id -un; exit 42'
[ "$RC" -eq 42 ] && [ "$OUT" = root ] || fail "carol's key login: exit $RC: $OUT $ERR"
[ ! -s "$ask/prompts" ] || fail "carol (no TOTP) was prompted: $(cat "$ask/prompts")"
[ "$(sessions_of carol)" -eq 1 ] || fail "carol's session not recorded"
pass "a user without TOTP logs in with the key alone (one step, session recorded)"

# --- alice: key, then a wrong code -----------------------------------------------------------
code=$(totp_code "$secret_file")
bad=$(wrong_totp_code "$code")
answer "$bad"
key_ssh alice root@web01@127.0.0.1 'id -un; exit 42'
[ "$RC" -eq 255 ] && [ -z "$OUT" ] || fail "alice's key with a wrong code: exit $RC: $OUT $ERR"
grep -qF "TOTP code:" "$ask/prompts" || fail "no TOTP prompt after alice's key: $(cat "$ask/prompts")"
grep -qF "Permission denied" <<<"$ERR" || fail "wrong code: $ERR"
[ "$(audit_count "$dir" ssh.login '"reason":"totp_wrong"')" -eq 1 ] ||
  fail "wrong code not audited: $(sql "$dir" "SELECT details FROM audit_events WHERE action='ssh.login';")"
[ "$(sessions_of alice)" -eq 0 ] || fail "a session for alice without her code"
pass "an enrolled user's key alone is no login: TOTP prompt, wrong code refused and audited"

# --- alice: key, then the right code: a recorded session -------------------------------------
code=$(totp_code "$secret_file")
answer "$code"
key_ssh alice root@web01@127.0.0.1 'id -un; exit 42'
[ "$RC" -eq 42 ] && [ "$OUT" = root ] || fail "alice's key + code: exit $RC: $OUT $ERR"
grep -qF "TOTP code:" "$ask/prompts" || fail "no TOTP prompt: $(cat "$ask/prompts")"
[ "$(audit_count "$dir" ssh.login '"method":"publickey"%"result":"success"%"totp":true')" -eq 1 ] ||
  fail "key + TOTP login not audited: $(sql "$dir" "SELECT details FROM audit_events WHERE action='ssh.login';")"
[ "$(sessions_of alice)" -eq 1 ] || fail "alice's session not recorded"
rec=$(sql "$dir" "SELECT recording_path FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.name = 'alice';")
[ -s "$dir/$rec" ] || fail "no recording file $rec"
pass "key then the right TOTP code: logged in, the session is recorded"

# --- the same code again ---------------------------------------------------------------------
answer "$code"
key_ssh alice root@web01@127.0.0.1 'id -un; exit 42'
[ "$RC" -eq 255 ] && [ -z "$OUT" ] || fail "replayed code accepted: exit $RC: $OUT $ERR"
[ "$(audit_count "$dir" ssh.login '"reason":"totp_replayed"')" -eq 1 ] || fail "replayed code not audited"
[ "$(sessions_of alice)" -eq 1 ] || fail "a session from a replayed code"
pass "a TOTP code is accepted once"

# --- a wrong code, then the right one in the next round on the same connection -----------------
# The key stays proven between the rounds (the core waits at its second factor); the next step's
# code is valid now (±1 step) and not used yet.
code=$(totp_code "$secret_file" 1)
bad=$(wrong_totp_code "$code")
answer "$bad" "$code"
ROUNDS=2 key_ssh alice root@web01@127.0.0.1 'id -un; exit 42'
[ "$RC" -eq 42 ] && [ "$OUT" = root ] || fail "wrong then right code: exit $RC: $OUT $ERR"
[ "$(grep -c 'TOTP code:' "$ask/prompts")" -eq 2 ] || fail "prompts: $(cat "$ask/prompts")"
[ "$(audit_count "$dir" ssh.login '"reason":"totp_wrong"')" -eq 2 ] || fail "second wrong code not audited"
[ "$(sessions_of alice)" -eq 2 ] || fail "no session after the second round"
pass "after a wrong code the key stays proven: the right code in the next round logs in"

# --- audrey: her role requires TOTP, none enrolled -------------------------------------------
answer 000000
key_ssh audrey root@web01@127.0.0.1 'id -un'
[ "$RC" -eq 255 ] && [ -z "$OUT" ] || fail "audrey's key login: exit $RC: $OUT $ERR"
grep -qF "sekisho: your role requires TOTP: enrol first with: sekisho login --user audrey; sekisho totp enroll" <<<"$ERR" ||
  fail "audrey's refusal: $ERR"
[ ! -s "$ask/prompts" ] || fail "audrey was asked for a code: $(cat "$ask/prompts")"
[ "$(audit_count "$dir" ssh.login '"reason":"totp_enrollment_required"')" -eq 1 ] ||
  fail "enrolment refusal not audited"
pass "a role that requires TOTP, none enrolled: the key login is refused with the way to enrol"

stop_gateway TERM
"$SEKISHOD" audit verify --data-dir "$dir" >/dev/null || fail "audit chain broken"
! grep -qF -- "$(cat "$secret_file")" "$TMP/all-output" "$GW_LOG" ||
  fail "the TOTP secret appears in the output or the gateway log"
pass "audit chain intact; no TOTP secret in output or log"
