#!/usr/bin/env bash
# Roles through the real CLI against a real sekishod: who may add users, hosts and accounts; a
# real sshd host whose key is pinned by `hosts add`; and a vaulted secret that no endpoint,
# log or audit event ever shows.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
printf '[api]\nlisten = "127.0.0.1:0"\n[ssh]\nlisten = "127.0.0.1:0"\n' >"$TMP/c.toml"
start_gateway "$dir" "$TMP/c.toml"
login_as op admin "$(one_time_password "$dir")" "operator-Password-1" 2>/dev/null || fail "operator login"
for u in rita:requester audrey:auditor; do
  printf '%s\n' "${u%%:*}-Initial-pw1" | cli_as op users add "${u%%:*}" --roles "${u##*:}" --password-stdin >/dev/null \
    || fail "users add $u"
  login_as "${u%%:*}" "${u%%:*}" "${u%%:*}-Initial-pw1" "${u%%:*}-Password-22" 2>/dev/null || fail "login ${u%%:*}"
done

# A real sshd "host" with its own /etc; the gateway pins its host key at `hosts add`.
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
cli_as op --json hosts add web01 --address "127.0.0.1:$web_port" --group web >"$TMP/host.json" \
  || fail "hosts add web01: $(cat "$TMP/host.json")"
pinned=$(json_field "$TMP/host.json" host_key_fingerprint)
actual=$(ssh-keygen -lf "$(ls "$TMP"/web01/ssh_host_ed25519_key.pub)" | awk '{print $2}')
[ "$pinned" = "$actual" ] || fail "pinned $pinned, host has $actual"
cli_as op hosts show web01 | grep -qF "$actual" || fail "hosts show lacks the fingerprint"
pass "hosts add pins the real sshd's host key ($actual)"

expect_refusal "needs the operator role" 1 cli_as rita hosts add web02 --address 127.0.0.1:22
printf '%s\n' "x-Initial-pw-123" >"$TMP/pw"
expect_refusal "needs the operator role" 1 bash -c '"$@" <"'"$TMP/pw"'"' _ \
  env SEKISHO_HOME="$TMP/home-rita" SEKISHO_SERVER="https://127.0.0.1:$GW_PORT" "$SEKISHO_CLI" \
  users add eve --roles operator --password-stdin
expect_refusal "needs the operator" 1 cli_as rita users list
cli_as audrey users list >/dev/null || fail "an auditor may list users"
expect_refusal "needs the operator role" 1 bash -c '"$@" <"'"$TMP/pw"'"' _ \
  env SEKISHO_HOME="$TMP/home-audrey" SEKISHO_SERVER="https://127.0.0.1:$GW_PORT" "$SEKISHO_CLI" \
  accounts add root@web01 --password-stdin
expect_refusal "needs the operator role" 1 cli_as audrey hosts remove web01
cli_as rita hosts list >/dev/null || fail "any user may list hosts"
pass "a requester cannot add hosts or users; an auditor cannot add accounts"

secret="Vaulted-Root-Secret-$RANDOM$RANDOM"
printf '%s\n' "$secret" | cli_as op accounts add root@web01 --password-stdin >/dev/null || fail "accounts add"
printf '%s\n' "$secret" | cli_as op accounts add admin@web01 --password-stdin >/dev/null \
  || fail "a second account on the same host may share nothing but must be accepted"
cli_as op --json hosts add win01 --address 127.0.0.1:3389 --protocol rdp >/dev/null || fail "hosts add rdp"
expect_refusal "another host" 1 bash -c 'printf "%s\n" "$1" | SEKISHO_HOME="$2" SEKISHO_SERVER="$3" "$4" accounts add Administrator@win01 --password-stdin' \
  _ "$secret" "$TMP/home-op" "https://127.0.0.1:$GW_PORT" "$SEKISHO_CLI"
pass "accounts are vaulted; one password is never kept for two hosts"

outputs=""
for who in op rita audrey; do
  for cmd in "hosts list" "hosts show web01" "users list" "whoami" "keys list"; do
    outputs+=$(cli_as "$who" --json $cmd 2>&1 || true)
  done
done
if grep -qF "$secret" <<<"$outputs"; then fail "a vaulted secret came back through the API"; fi
grep -qF '"root"' <<<"$outputs" || fail "hosts show did not list the account (the check above proved nothing)"
stop_gateway TERM
if grep -aqF "$secret" "$GW_LOG"; then fail "the vaulted secret is in the gateway log"; fi
if sql "$dir" "SELECT details FROM audit_events;" | grep -qF "$secret"; then fail "the secret is in the audit log"; fi
sql "$dir" "SELECT count(*) FROM credentials WHERE state = 'current';" | grep -qx 2 || fail "credentials not vaulted"
actions=$(audit_actions "$dir")
for a in host.add account.add access.denied user.create; do
  grep -qx "$a" <<<"$actions" || fail "no $a in the audit log"
done
bash "$harness/sshd_host.sh" stop "$TMP/web01" >/dev/null
pass "no endpoint, log or audit event shows a vaulted secret; refusals are audited"
