#!/usr/bin/env bash
# hosts repin and hosts remove with history, with real parts: a real sekishod, a real sshd host
# web01 whose host key is replaced (new key files, SIGHUP: sshd re-executes on the same port), the
# real sekisho CLI and the real OpenSSH client through the gateway. A changed key is refused until
# an operator pins the new one: without a terminal only with --expect, and only the key the host
# really presents. Removing a host with history retires it: no new requests or sessions.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
write_ssh_config "$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"
login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 || fail "operator login"
add_users alice:requester bob:approver

# One host key type, so that the fingerprint the gateway pins is the one of that key file.
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(SSHD_HOST_KEY_TYPES=ed25519 bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
ROOT_PW="Root-Vaulted-$RANDOM$RANDOM-pw"
printf '%s\n' "$ROOT_PW" | bash "$harness/sshd_host.sh" passwd "$TMP/web01" root || fail "passwd root"
cli_as op hosts add web01 --address "127.0.0.1:$web_port" >/dev/null || fail "hosts add web01"
printf '%s\n' "$ROOT_PW" | cli_as op accounts add root@web01 --password-stdin >/dev/null || fail "accounts add"
ssh-keygen -q -t ed25519 -N '' -C alice -f "$TMP/alice.key" </dev/null
cli_as alice keys add "$TMP/alice.key.pub" >/dev/null || fail "keys add alice"
id=$(cli_as alice request root@web01 --reason "repin test" --duration 1h) || fail "request"
cli_as bob approve "$id" >/dev/null || fail "approve"

key_fp() { ssh-keygen -lf "$TMP/web01/ssh_host_ed25519_key.pub" | awk '{print $2}'; }
pinned_fp() { cli_as op --json hosts show web01 | json_field - host_key_fingerprint; }
gw_ssh() { timeout 30 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" "$@" </dev/null; }
# The CLI in a new session: no controlling terminal to ask on, as in a script or a cron job.
cli_no_tty() {
  setsid -w env SEKISHO_HOME="$TMP/home-$1" SEKISHO_SERVER="https://127.0.0.1:$GW_PORT" \
    "$SEKISHO_CLI" "${@:2}"
}

old_fp=$(key_fp)
[ "$(pinned_fp)" = "$old_fp" ] || fail "hosts add pinned $(pinned_fp), the host's key is $old_fp"
[ "$(gw_ssh root@web01@127.0.0.1 'id -un')" = root ] || fail "session before the key change"
out=$(cli_as op hosts repin web01 --expect "$old_fp") || fail "repin with the same key"
[ "$out" = "host web01 presents the pinned key $old_fp; nothing changed" ] || fail "same key: $out"
[ "$(audit_count "$dir" host.repin)" = 0 ] || fail "a repin that changed nothing was audited as one"
pass "the same key as pinned: said so, nothing changed"

# The host gets a new key: sshd re-executes on SIGHUP (same PID, same port) and reads it.
listening=$(grep -c "Server listening on 127.0.0.1 port $web_port" "$TMP/web01/sshd.log")
rm -f "$TMP/web01/ssh_host_ed25519_key" "$TMP/web01/ssh_host_ed25519_key.pub"
ssh-keygen -q -t ed25519 -N '' -C host-web01-new -f "$TMP/web01/ssh_host_ed25519_key" </dev/null
kill -HUP "$web_pid"
for _ in $(seq 1 100); do
  [ "$(grep -c "Server listening on 127.0.0.1 port $web_port" "$TMP/web01/sshd.log")" -gt "$listening" ] && break
  sleep 0.05
done
[ "$(grep -c "Server listening on 127.0.0.1 port $web_port" "$TMP/web01/sshd.log")" -gt "$listening" ] ||
  fail "sshd did not restart: $(tail -3 "$TMP/web01/sshd.log")"
new_fp=$(key_fp)
[ "$new_fp" != "$old_fp" ] || fail "the new host key has the old fingerprint"
rc=0
gw_ssh root@web01@127.0.0.1 'id -un' >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" -ne 0 ] || fail "a session reached web01 whose key is no longer the pinned one"
grep -qF "the host key of web01 does not match the key pinned at registration; refused" "$TMP/err" ||
  fail "key change refusal: $(cat "$TMP/err")"
pass "a changed host key is refused until repinned"

expect_refusal "hosts repin: no terminal to confirm the new key on; compare its fingerprint out of band and pass --expect FINGERPRINT" \
  1 cli_no_tty op hosts repin web01
wrong="SHA256:$(printf 'x%.0s' {1..43})"
expect_refusal "host web01 presents $new_fp, not the expected $wrong; nothing changed" \
  1 cli_as op hosts repin web01 --expect "$wrong"
[ "$(pinned_fp)" = "$old_fp" ] || fail "a refused repin changed the pinned key to $(pinned_fp)"
[ "$(audit_count "$dir" host.repin.refused "$new_fp")" = 1 ] || fail "the refused repin is not audited"
[ "$(audit_count "$dir" host.repin)" = 0 ] || fail "a refused repin was audited as host.repin"
pass "without a terminal or with another fingerprint: refused, nothing changed, audited"

# --expect with the key the host presents: pinned, audited with both fingerprints.
shown=$(cli_as op --json hosts repin web01 --expect "$new_fp") || fail "repin --expect right"
[ "$(json_field - pinned <<<"$shown")" = true ] || fail "not pinned: $shown"
[ "$(pinned_fp)" = "$new_fp" ] || fail "pinned is $(pinned_fp), wanted $new_fp"
[ "$(audit_count "$dir" host.repin "\"new_fingerprint\":\"$new_fp\"")" = 1 ] || fail "host.repin new fp not audited"
[ "$(audit_count "$dir" host.repin "\"old_fingerprint\":\"$old_fp\"")" = 1 ] || fail "host.repin old fp not audited"
[ "$(gw_ssh root@web01@127.0.0.1 'id -un')" = root ] || fail "session after the repin: $(tail -3 "$GW_LOG")"
pass "--expect with the presented key pins it (audited old and new); the gateway connects again"

# Retire: web01 has a request on record.
out=$(cli_as op hosts remove web01) || fail "hosts remove web01"
[ "$out" = "host web01 retired: it has requests or sessions on record, kept for their history; no new requests or sessions" ] ||
  fail "remove with history: $out"
[ "$(audit_count "$dir" host.retired)" = 1 ] || fail "host.retired not audited"
cli_as op hosts list | grep -q "^web01 (retired) " || fail "hosts list does not mark web01: $(cli_as op hosts list)"
expect_refusal "host web01 is retired" 1 cli_as alice request root@web01 --reason "after retirement"
[ "$(audit_count "$dir" request.refused "host web01 is retired")" = 1 ] || fail "retired refusal not audited"
rc=0
gw_ssh root@web01@127.0.0.1 'id -un' >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" -ne 0 ] || fail "a session reached a retired host"
grep -qF "no approved request for root@web01" "$TMP/err" || fail "retired host session: $(cat "$TMP/err")"
[ "$(sql "$dir" "SELECT count(*) FROM requests WHERE id = '$id';")" = 1 ] || fail "history lost"
expect_refusal "host web01 is already retired" 1 cli_as op hosts remove web01
pass "remove of a host with history retires it: no new requests or sessions, history kept"

# A host without history is deleted as before.
cli_as op hosts add win01 --address 127.0.0.1:3389 --protocol rdp >/dev/null || fail "hosts add win01"
out=$(cli_as op hosts remove win01) || fail "hosts remove win01"
[ "$out" = "host win01 removed" ] || fail "remove without history: $out"
expect_refusal "no host win01" 1 cli_as op hosts show win01
[ "$(audit_count "$dir" host.remove)" = 1 ] || fail "host.remove not audited"
pass "remove of a host without history deletes it"
