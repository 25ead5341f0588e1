#!/usr/bin/env bash
# Gateway login by keyboard-interactive directory password (+ TOTP when enrolled), its throttle and
# the cap on session workers, with real parts: a real sekishod, a real sshd host web01, the real
# OpenSSH client answering prompts through SSH_ASKPASS (a script that reads the answers from 0600
# files: no password on a command line). Passwords never appear in output or the gateway log.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
# max_failures 4: the per-source throttle counts every failure from 127.0.0.1, so the throttle case
# runs on a restarted gateway (the throttle lives in memory).
write_config "$TMP/c.toml" "
[ssh]
listen = \"127.0.0.1:0\"
max_sessions = 2
[auth]
max_failures = 4
[[policy]]
name = \"all\"
hosts = [\"*\"]
requesters = [\"role:requester\"]
approvers = [\"role:approver\"]
approvals = 1
max_duration = \"4h\"
"
start_ssh_gateway "$dir" "$TMP/c.toml"
LOGS=("$GW_LOG")

login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 || fail "operator login"
add_users alice:requester tina:requester mallory:requester bob:approver
# fresh keeps the one-time password an operator gave: SSH login must send them to sekisho login.
printf '%s\n' "fresh-Initial-pw1" | cli_as op users add fresh --roles requester --password-stdin >/dev/null \
  || fail "users add fresh"

ROOT_PW="Root-Vaulted-$RANDOM$RANDOM-pw"
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
printf '%s\n' "$ROOT_PW" | bash "$harness/sshd_host.sh" passwd "$TMP/web01" root || fail "passwd root"
cli_as op hosts add web01 --address "127.0.0.1:$web_port" >/dev/null || fail "hosts add web01"
printf '%s\n' "$ROOT_PW" | cli_as op accounts add root@web01 --password-stdin >/dev/null || fail "accounts add"
id=$(cli_as alice request root@web01 --reason "ssh login test" --duration 1h) || fail "request"
cli_as bob approve "$id" >/dev/null || fail "approve"

# The askpass program answers by prompt text from files in a 0700 directory; it logs the prompts
# (never the answers) so the test can see which prompts were asked.
ask="$TMP/ask"
mkdir -m 0700 "$ask"
cat >"$ask/askpass.sh" <<'SH'
#!/bin/sh
d=$(dirname "$0")
printf '%s\n' "$1" >>"$d/prompts"
case "$1" in
  *"Sekisho user:"*) cat "$d/user" ;;
  *"Password:"*)
    if [ -e "$d/hold" ]; then
      i=0
      while [ ! -e "$d/release" ] && [ "$i" -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    fi
    cat "$d/password" ;;
  *"TOTP code:"*) cat "$d/totp" ;;
  *) exit 1 ;;
esac
SH
chmod 0700 "$ask/askpass.sh"
# answers USER PASSWORD [TOTP]: printf is a builtin, so nothing reaches a command line.
answers() {
  (umask 077; printf '%s\n' "$1" >"$ask/user"; printf '%s\n' "$2" >"$ask/password"; printf '%s\n' "${3:-}" >"$ask/totp")
  : >"$ask/prompts"
}
# pw_ssh ARGS...: OpenSSH with keyboard-interactive only, one round per connection, bounded.
pw_ssh() {
  SSH_ASKPASS="$ask/askpass.sh" SSH_ASKPASS_REQUIRE=force timeout 30 ssh -F /dev/null -p "$SSH_PORT" \
    -o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
    -o NumberOfPasswordPrompts=1 -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$TMP/known_hosts" -o ConnectTimeout=10 "$@"
}
# run_ssh ARGS...: sets RC, OUT, ERR.
run_ssh() {
  RC=0
  pw_ssh "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || RC=$?
  OUT=$(cat "$TMP/out")
  ERR=$(cat "$TMP/err")
  printf '%s\n%s\n' "$OUT" "$ERR" >>"$TMP/all-output"
}

# --- password login with a grant --------------------------------------------------------------
answers alice alice-Password-22
run_ssh root@web01@127.0.0.1 'id -un; exit 42'
[ "$RC" -eq 42 ] || fail "password login: exit $RC (wanted 42): $ERR; gateway: $(tail -5 "$GW_LOG")"
[ "$OUT" = root ] || fail "password login stdout: $OUT"
prompts=$(cat "$ask/prompts")
grep -qF "Sekisho user:" <<<"$prompts" && grep -qF "Password:" <<<"$prompts" || fail "prompts: $prompts"
! grep -qF "TOTP code:" <<<"$prompts" || fail "a TOTP prompt for a user without TOTP"
[ "$(audit_count "$dir" ssh.login '"result":"success","totp":false')" -ge 1 ] \
  || fail "password login not audited: $(sql "$dir" "SELECT details FROM audit_events WHERE action='ssh.login';")"
pass "ACCOUNT@HOST: Sekisho user + Password prompts, the command runs as root on web01 (exit 42)"

answers nobody alice-Password-22
run_ssh alice@root@web01@127.0.0.1 'id -un'
[ "$RC" -eq 0 ] && [ "$OUT" = root ] || fail "hint form: exit $RC: $ERR"
! grep -qF "Sekisho user:" "$ask/prompts" || fail "the hint form still asked for the user"
pass "USER@ACCOUNT@HOST: no user prompt, logs in as the hinted user"

answers alice wrong-Password-99
run_ssh root@web01@127.0.0.1 'id -un'
[ "$RC" -eq 255 ] && grep -qF "Permission denied" <<<"$ERR" || fail "wrong password: exit $RC: $ERR"
[ "$(audit_count "$dir" ssh.login 'wrong_password')" -eq 1 ] || fail "wrong password not audited"
pass "a wrong password is refused and audited"

# One limit for login names: above 400 characters the name is refused whole, never cut (its first
# 140 characters alone would be the well-formed name aaa…@root@web01). The worker refuses before
# asking the core, so no ssh.login event is written for it.
long_name="$(printf '%0129d' 0 | tr 0 a)@root@web01$(printf '%0261d' 0 | tr 0 b)"
[ "${#long_name}" -eq 401 ] || fail "test setup: name of ${#long_name} characters"
logins_before=$(audit_count "$dir" ssh.login)
answers alice alice-Password-22
run_ssh "$long_name@127.0.0.1" 'id -un'
[ "$RC" -eq 255 ] && grep -qF "the user name is longer than 400 characters; refused" <<<"$ERR" \
  || fail "401-character name: exit $RC: $ERR"
[ "$(audit_count "$dir" ssh.login)" -eq "$logins_before" ] \
  || fail "a 401-character name reached a login"
pass "a 401-character login name is refused with its length, not cut"

# fresh: right one-time password, refused with the way out.
answers fresh fresh-Initial-pw1
run_ssh root@web01@127.0.0.1 'id -un'
[ "$RC" -eq 255 ] && grep -qF "set a new one first with: sekisho login --user fresh" <<<"$ERR" \
  || fail "one-time password: exit $RC: $ERR"
[ "$(audit_count "$dir" ssh.login 'password_change_required')" -eq 1 ] || fail "forced change not audited"
pass "a one-time password is refused with the hint to run sekisho login"

# --- TOTP ---------------------------------------------------------------------------------------
secret_file="$TMP/totp.secret"
totp_enroll tina "$secret_file"
cli_as tina totp confirm "$(totp_code "$secret_file")" >/dev/null || fail "totp confirm"
code=$(totp_code "$secret_file")
bad=$(wrong_totp_code "$code")
answers tina tina-Password-22 "$bad"
run_ssh root@web01@127.0.0.1 'id -un'
[ "$RC" -eq 255 ] || fail "wrong TOTP code accepted: $ERR"
grep -qF "TOTP code:" "$ask/prompts" || fail "no TOTP prompt for an enrolled user: $(cat "$ask/prompts")"
[ "$(audit_count "$dir" ssh.login 'totp_wrong')" -eq 1 ] || fail "wrong code not audited"
answers tina tina-Password-22 "$code"
run_ssh root@web01@127.0.0.1 'id -un'
# Logged in (no grant for tina: the refusal comes on the session channel, after login).
grep -qF "no approved request for root@web01" <<<"$ERR" || fail "TOTP login: exit $RC: $ERR"
[ "$(audit_count "$dir" ssh.login '"result":"success","totp":true')" -eq 1 ] || fail "TOTP login not audited"
answers tina tina-Password-22 "$code"
run_ssh root@web01@127.0.0.1 'id -un'
[ "$RC" -eq 255 ] && ! grep -qF "no approved request" <<<"$ERR" || fail "replayed TOTP code accepted: $ERR"
[ "$(audit_count "$dir" ssh.login 'totp_replayed')" -eq 1 ] || fail "replayed code not audited"
pass "TOTP: an enrolled user is asked for a code; right code logs in, wrong and replayed codes refused"

# --- the session cap: two connections open, the third refused ----------------------------------
# Two clients held at the password prompt (the askpass waits for a release file, bounded) keep two
# session workers alive; the third connection is closed by the core before any worker starts.
logins_ok() { audit_count "$dir" ssh.login '"result":"success"'; }
answers alice alice-Password-22
touch "$ask/hold"
for i in 1 2; do
  pw_ssh root@web01@127.0.0.1 "echo open-$i" >"$TMP/hold$i.out" 2>"$TMP/hold$i.err" </dev/null &
  STARTED_PIDS+=("$!")
  eval "hold$i=$!"
done
for _ in $(seq 1 150); do
  [ "$(grep -c 'Password:' "$ask/prompts" || true)" -ge 2 ] && break
  sleep 0.1
done
[ "$(grep -c 'Password:' "$ask/prompts" || true)" -ge 2 ] || fail "two clients did not reach the prompt"
run_ssh root@web01@127.0.0.1 'echo third'
[ "$RC" -eq 255 ] && [ -z "$OUT" ] || fail "third connection over max_sessions=2: exit $RC: $OUT $ERR"
grep -qF "refused: too many sessions" "$GW_LOG" || fail "refusal not logged"
[ "$(audit_count "$dir" ssh.refused 'too many sessions')" -eq 1 ] || fail "refusal not audited"
before=$(logins_ok)
touch "$ask/release"
wait "$hold1" "$hold2" 2>/dev/null || true
rm -f "$ask/hold" "$ask/release"
[ "$(logins_ok)" -eq $((before + 2)) ] || fail "the held clients did not log in after the release"
for _ in $(seq 1 50); do  # their workers end once the clients are gone
  before=$(logins_ok)
  run_ssh root@web01@127.0.0.1 'echo after'
  [ "$(logins_ok)" -gt "$before" ] && break
  sleep 0.2
done
[ "$(logins_ok)" -gt "$before" ] || fail "no login after the held connections closed: $ERR"
pass "max_sessions=2: a third concurrent connection is refused, logged and audited; freed slots serve again"

# --- throttling (a fresh gateway: the throttle is in memory) -----------------------------------
stop_gateway TERM
start_ssh_gateway "$dir" "$TMP/c.toml"
LOGS+=("$GW_LOG")
answers mallory wrong-Password-99
for i in 1 2 3 4; do
  run_ssh root@web01@127.0.0.1 'id -un'
  [ "$RC" -eq 255 ] || fail "wrong password $i accepted"
done
answers mallory mallory-Password-22
run_ssh root@web01@127.0.0.1 'id -un'
[ "$RC" -eq 255 ] && grep -qF "too many failed logins; try again later" <<<"$ERR" \
  || fail "not throttled after 4 failures: exit $RC: $ERR"
[ "$(audit_count "$dir" ssh.login '"reason":"throttled"')" -ge 1 ] || fail "throttled login not audited"
[ "$(audit_count "$dir" login.lockout 'source')" -ge 1 ] || fail "lockout not audited"
pass "after max_failures wrong passwords, even the right one is refused with the API's wording"

# --- no password in output or logs --------------------------------------------------------------
for pw in alice-Password-22 tina-Password-22 mallory-Password-22 wrong-Password-99 fresh-Initial-pw1 "$ROOT_PW"; do
  ! grep -qF -- "$pw" "$TMP/all-output" "${LOGS[@]}" || fail "a password appears in the output or a gateway log"
done
pass "no password in ssh output or the gateway logs"
