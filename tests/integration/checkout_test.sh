#!/usr/bin/env bash
# Check-out end to end with real parts (real sekishod, real sshd host web01, the real `sekisho` CLI
# and the real OpenSSH client): alice's checkout-mode request approved by bob lends root@web01's
# password, which logs in to the host; carol's check-out meanwhile is refused with who holds it,
# while carol's session-mode session of the same account works; after alice's check-in, and
# separately after a short window ends, the lent password no longer logs in to the host and a
# gateway session (the vault's current password) does. No password reaches argv or this output:
# lent passwords go to 0600 files and reach ssh through SSH_ASKPASS.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
write_ssh_config "$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"

login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 || fail "operator login"
add_users alice:requester carol:requester bob:approver

mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
umask 077
printf 'Root-Vaulted-%s%s-pw\n' "$RANDOM" "$RANDOM" >"$TMP/vaulted.pw"
bash "$harness/sshd_host.sh" passwd "$TMP/web01" root <"$TMP/vaulted.pw" || fail "passwd root"
cli_as op hosts add web01 --address "127.0.0.1:$web_port" >/dev/null || fail "hosts add web01"
cli_as op accounts add root@web01 --password-stdin <"$TMP/vaulted.pw" >/dev/null || fail "accounts add"
ssh-keygen -q -t ed25519 -N '' -C carol -f "$TMP/carol.key" </dev/null
cli_as carol keys add "$TMP/carol.key.pub" >/dev/null || fail "keys add carol"

# The host's own key, pinned for the direct logins below (no trust on first use).
printf '[127.0.0.1]:%s %s\n' "$web_port" "$(cut -d' ' -f1,2 "$TMP/web01/ssh_host_ed25519_key.pub")" \
  >"$TMP/web01_known_hosts"
# askpass prints the password file named by PW_FILE: ssh asks it instead of a terminal.
printf '#!/bin/sh\nexec cat "$PW_FILE"\n' >"$TMP/askpass.sh"
chmod 700 "$TMP/askpass.sh"

# host_login PW_FILE: 0 when root@web01 accepts the password in PW_FILE (a direct login to the host
# with the real ssh client, password authentication only, one try).
host_login() {
  local out
  out=$(PW_FILE=$1 SSH_ASKPASS="$TMP/askpass.sh" SSH_ASKPASS_REQUIRE=force DISPLAY=none \
    timeout 30 ssh -F /dev/null -T -o UserKnownHostsFile="$TMP/web01_known_hosts" \
    -o StrictHostKeyChecking=yes -o PubkeyAuthentication=no -o IdentitiesOnly=yes \
    -o PreferredAuthentications=password,keyboard-interactive -o NumberOfPasswordPrompts=1 \
    -o ConnectTimeout=10 -p "$web_port" root@127.0.0.1 'id -un' </dev/null 2>"$TMP/host_login.err") || return 1
  [ "$out" = root ] || fail "direct login printed '$out'"
}

# gateway_session: carol's session-mode ssh session through the gateway (the vault's current
# password logs the gateway in to web01) prints root.
gateway_session() {
  local out
  out=$(timeout 30 ssh -T "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/carol.key" \
    root@web01@127.0.0.1 'id -un' </dev/null 2>"$TMP/gw.err") || fail "gateway session: $(cat "$TMP/gw.err")"
  [ "$out" = root ] || fail "gateway session printed '$out'"
}

# verified_rotations: how many verified rotations of root@web01 the audit log holds.
verified_rotations() {
  sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'rotation.verified' AND target = 'root@web01';"
}

# wait_rotation N: waits (bounded, 60 s) until root@web01 has N verified rotations.
wait_rotation() {
  for _ in $(seq 1 600); do
    [ "$(verified_rotations)" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "no verified rotation #$1 of root@web01 within 60 s: $(sql "$dir" "SELECT action || ' ' || details FROM audit_events WHERE action LIKE 'rotation.%' ORDER BY seq;")"
}

# no_secret_leaked PW_FILE: the password is in no audit event and not in the gateway's log.
no_secret_leaked() {
  local n
  n=$( { printf "SELECT count(*) FROM audit_events WHERE instr(actor || action || target || details, '"; tr -d '\n' <"$1"; printf "') > 0;\n"; } | {
    printf 'PRAGMA key = "x'"'"'%s'"'"'";\nPRAGMA cipher_page_size = 16384;\n' "$(cat "$dir/master.key")"; cat; } |
    sqlcipher -batch "$dir/sekisho.db")
  [ "$n" = 0 ] || fail "$n audit event(s) hold a lent password"
  if grep -qF -f "$1" "$GW_LOG"; then fail "the gateway's log holds a lent password"; fi
}

# --- check-out: the requester, inside the approved window ----------------------------------------
id=$(cli_as alice request root@web01 --mode checkout --reason "fix the console" --duration 1h) || fail "request"
expect_refusal "request $id grants no check-out now (pending)" 1 cli_as alice checkout "$id"
cli_as bob approve "$id" >/dev/null || fail "approve"
expect_refusal "only the requester can check out request $id" 1 cli_as carol checkout "$id"
cli_as alice checkout "$id" >"$TMP/lent.pw" 2>"$TMP/checkout.err" || fail "checkout: $(cat "$TMP/checkout.err")"
until=$(cli_as alice --json show "$id" | json_field - end)
grep -qxF "checked out root@web01 until $until; hand it back early with: sekisho checkin $id" "$TMP/checkout.err" \
  || fail "checkout stderr: $(cat "$TMP/checkout.err")"
[ "$(wc -l <"$TMP/lent.pw")" -eq 1 ] || fail "checkout stdout is not one line"
cmp -s "$TMP/lent.pw" "$TMP/vaulted.pw" || fail "the lent password is not the vaulted one"
[ "$(cli_as alice --json show "$id" | json_field - state)" = active ] || fail "request not active"
host_login "$TMP/lent.pw" || fail "the lent password does not log in: $(cat "$TMP/host_login.err")"
[ "$(audit_count "$dir" credential.checkout "\"request\":\"$id\"")" -eq 1 ] || fail "credential.checkout not audited once"
[ "$(cli_as alice --json checkout "$id" | json_field - until)" = "$until" ] || fail "checkout --json until"
[ "$(audit_count "$dir" credential.checkout "\"request\":\"$id\"")" -eq 2 ] || fail "the second showing is not audited"
# The API's answer carries the password: no cache may keep it. (The token goes to curl in a 0600
# header file, never on its command line.)
{ printf 'Authorization: Bearer '; cat "$TMP/home-alice/token"; printf '\n'; } >"$TMP/auth.h"
curl -sS --max-time 10 --cacert "$dir/tls.crt" -H @"$TMP/auth.h" -H 'Content-Type: application/json' \
  -d '{}' -D "$TMP/checkout.headers" -o "$TMP/checkout.body" \
  "https://127.0.0.1:$GW_PORT/v1/requests/$id/checkout" || fail "checkout over the API"
grep -qix 'cache-control: no-store.' "$TMP/checkout.headers" || fail "no Cache-Control: no-store: $(grep -vi '^set-cookie' "$TMP/checkout.headers")"
cmp -s <(json_field "$TMP/checkout.body" password) "$TMP/lent.pw" || fail "the API's password is not the CLI's"
pass "lent to alice only inside the approved window, audited per showing, never cached; it logs in to web01 with ssh"

# --- exclusive: carol's check-out is refused; her session-mode session works --------------------
id2=$(cli_as carol request root@web01 --mode checkout --reason "second opinion" --duration 1h) || fail "request 2"
cli_as bob approve "$id2" >/dev/null || fail "approve 2"
expect_refusal "root@web01 is checked out by alice until $until (request $id)" 1 cli_as carol checkout "$id2"
[ "$(audit_count "$dir" credential.checkout_refused "checked out by alice%\"request\":\"$id2\"")" -eq 1 ] \
  || fail "the refused check-out is not audited"
sid=$(cli_as carol request root@web01 --mode session --reason "look at logs" --duration 1h) || fail "session request"
cli_as bob approve "$sid" >/dev/null || fail "approve session"
gateway_session
pass "carol's check-out refused while alice holds it (audited); carol's gateway session works"

# --- check-in: refused to others, then the password is rotated -----------------------------------
expect_refusal "only the requester can check in request $id" 1 cli_as carol checkin "$id"
expect_refusal "request $id2 has no open check-out" 1 cli_as carol checkin "$id2"
before=$(verified_rotations)
out=$(cli_as alice checkin "$id") || fail "checkin"
[ "$out" = "request $id: closed; root@web01 is being rotated" ] || fail "checkin said: $out"
[ "$(cli_as alice --json show "$id" | json_field - state)" = closed ] || fail "request not closed"
[ "$(audit_count "$dir" credential.checkin "\"request\":\"$id\"")" -eq 1 ] || fail "credential.checkin not audited"
wait_rotation $((before + 1))
if host_login "$TMP/lent.pw"; then fail "the lent password still logs in after the check-in"; fi
grep -q 'Permission denied' "$TMP/host_login.err" || fail "direct login: $(cat "$TMP/host_login.err")"
gateway_session
no_secret_leaked "$TMP/lent.pw"
pass "after the check-in the lent password is refused by web01 and the vault's current one logs in"

# --- the end of a short window -------------------------------------------------------------------
id3=$(cli_as alice request root@web01 --mode checkout --reason "quick look" --duration 20s) || fail "request 3"
cli_as bob approve "$id3" >/dev/null || fail "approve 3"
cli_as alice checkout "$id3" >"$TMP/lent2.pw" 2>"$TMP/checkout2.err" || fail "checkout 3: $(cat "$TMP/checkout2.err")"
if cmp -s "$TMP/lent.pw" "$TMP/lent2.pw"; then fail "the rotated password equals the one lent before"; fi
host_login "$TMP/lent2.pw" || fail "the second lent password does not log in: $(cat "$TMP/host_login.err")"
before=$(verified_rotations)
ended=
for _ in $(seq 1 600); do
  ended=$(sql "$dir" "SELECT end_reason FROM checkouts WHERE request_id = '$id3' AND ended_at IS NOT NULL AND ended_at != '';")
  [ -n "$ended" ] && break
  sleep 0.1
done
[ "$ended" = "window end" ] || fail "the check-out did not end with its window (end reason '$ended')"
wait_rotation $((before + 1))
if host_login "$TMP/lent2.pw"; then fail "the lent password still logs in after its window"; fi
grep -q 'Permission denied' "$TMP/host_login.err" || fail "direct login: $(cat "$TMP/host_login.err")"
gateway_session
[ "$(audit_count "$dir" credential.checkout_ended "\"reason\":\"window end\",\"request\":\"$id3\"")" -eq 1 ] \
  || fail "credential.checkout_ended not audited"
no_secret_leaked "$TMP/lent2.pw"
pass "after the window the lent password is refused by web01 and the vault's current one logs in"
