#!/usr/bin/env bash
# Password rotation end to end with real parts: a real sekishod, real sshd "hosts" each with its
# own /etc (sshd_host.sh), the real CLI. `sekisho rotate web01` changes exactly root's entry in
# web01's /etc/shadow (not another account's, not another host's, not the machine's), the vault's
# new current password is what a gateway session then logs in with, and every step is audited.
# `rotate --all` over N hosts (ROTATION_TEST_HOSTS, default 50) verifies N rotations with N
# distinct fingerprints, reports a host that is down as failed with its cause and rotates the
# others; an rdp host's account is manual and `rotate` says so. No password reaches any output.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"
N=${ROTATION_TEST_HOSTS:-50}
[ "$N" -ge 3 ] || fail "ROTATION_TEST_HOSTS must be at least 3"

dir="$TMP/var"
init_data_dir "$dir"
# The sweep is left for an hour: the test's own steps (a session settling an account in doubt) must
# not race with it.
write_ssh_config "$TMP/c.toml" '
[rotation]
sweep = "1h"'
start_ssh_gateway "$dir" "$TMP/c.toml"
login_as op admin "$(one_time_password "$dir")" "operator-Password-1" >/dev/null 2>&1 || fail "operator login"
add_users alice:requester bob:approver audrey:auditor

# host NAME: the host's dir. Each host has root (vaulted, its own password) and carol (not
# vaulted: rotation must leave her alone).
host_dir() { echo "$TMP/hosts/$1"; }
shadow_of() { bash "$harness/sshd_host.sh" exec "$(host_dir "$1")" grep "^$2:" /etc/shadow; }
mkdir -p "$TMP/hosts" "$TMP/pw"
chmod 700 "$TMP/pw"
for i in $(seq -w 1 "$N"); do
  h="web$i"
  mkdir -p "$(host_dir "$h")"
  read -r port pid < <(bash "$harness/sshd_host.sh" start "$(host_dir "$h")" "$h" carol) || fail "start $h"
  STARTED_PIDS+=("$pid")
  head -c 18 /dev/urandom | base64 | tr '+/' 'xy' >"$TMP/pw/$h"
  bash "$harness/sshd_host.sh" passwd "$(host_dir "$h")" root <"$TMP/pw/$h" || fail "passwd root on $h"
  echo "Carol-Own-pw-$RANDOM" | bash "$harness/sshd_host.sh" passwd "$(host_dir "$h")" carol || fail "passwd carol"
  cli_as op hosts add "$h" --address "127.0.0.1:$port" --group web >/dev/null || fail "hosts add $h"
  cli_as op accounts add "root@$h" --password-stdin <"$TMP/pw/$h" >/dev/null || fail "accounts add root@$h"
done
pass "$N real sshd hosts registered, each root password vaulted (set inside the host, never shown)"

# --- rotate one host -----------------------------------------------------------------------------
w=web$(printf '%0*d' ${#N} 1)
w2=web$(printf '%0*d' ${#N} 2)
machine_before=$(sha256sum /etc/shadow)
root_before=$(shadow_of "$w" root)
carol_before=$(shadow_of "$w" carol)
other_before=$(shadow_of "$w2" root)
cli_as op rotate "$w" >"$TMP/rotate1.out" 2>"$TMP/rotate1.err" || fail "rotate $w: $(cat "$TMP/rotate1.err")"
grep -qE "^root@$w +rotated" "$TMP/rotate1.out" || fail "rotate $w output: $(cat "$TMP/rotate1.out")"
[ "$(shadow_of "$w" root)" != "$root_before" ] || fail "root's /etc/shadow entry on $w did not change"
[ "$(shadow_of "$w" carol)" = "$carol_before" ] || fail "carol's entry on $w changed"
[ "$(shadow_of "$w2" root)" = "$other_before" ] || fail "root's entry on $w2 changed"
[ "$(sha256sum /etc/shadow)" = "$machine_before" ] || fail "the machine's own /etc/shadow changed"
for action in rotation.start rotation.changed rotation.verified; do
  n=$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = '$action' AND target = 'root@$w' AND actor = 'admin';")
  [ "$n" -eq 1 ] || fail "$n $action events for root@$w by admin"
done
pass "rotate $w: root's /etc/shadow entry on $w changed; carol's, $w2's and the machine's did not; start/changed/verified audited"

# The vault's new current password is the one the gateway now logs in with.
ssh-keygen -q -t ed25519 -N '' -C alice -f "$TMP/alice.key" </dev/null
cli_as alice keys add "$TMP/alice.key.pub" >/dev/null || fail "keys add alice"
req=$(cli_as alice request "root@$w" --reason "after rotation" --duration 1h) || fail "request"
cli_as bob approve "$req" >/dev/null || fail "approve"
out=$(timeout 30 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" "root@$w@127.0.0.1" 'id -un' 2>"$TMP/ssh.err" </dev/null) ||
  fail "gateway session after rotation: $(cat "$TMP/ssh.err")"
[ "$out" = root ] || fail "gateway session ran as '$out'"
pass "a gateway session to root@$w logs in with the vault's new current password"

# An account in doubt (a crash left a pending password the host never took) is settled before the
# session uses it: the session recovers it (the host kept the current one) and then logs in.
acct_id=$(sql "$dir" "SELECT a.id FROM accounts a JOIN hosts h ON h.id = a.host_id WHERE h.name = '$w' AND a.name = 'root';")
sql "$dir" "INSERT INTO credentials (account_id, kind, state, secret, fingerprint, created_at)
  VALUES ($acct_id, 'password', 'pending', X'$(printf 'Never-Taken-%s' "$RANDOM$RANDOM" | od -An -tx1 | tr -d ' \n')', 'deadbeef', '2026-01-01T00:00:00.000Z');"
[ "$(cli_as audrey --json accounts list --host "$w" | json_rows - accounts state)" = pending ] || fail "root@$w not in doubt"
out=$(timeout 60 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" "root@$w@127.0.0.1" 'id -un' 2>"$TMP/ssh.err" </dev/null) ||
  fail "gateway session to an account in doubt: $(cat "$TMP/ssh.err"); gateway: $(tail -15 "$GW_LOG")"
[ "$out" = root ] || fail "gateway session ran as '$out'"
[ "$(audit_count "$dir" rotation.recovered "recovery before use")" -eq 1 ] || fail "no rotation.recovered before use"
[ "$(cli_as audrey --json accounts list --host "$w" | json_rows - accounts state)" = current ] || fail "root@$w still in doubt"
pass "a session to an account in doubt waits for its recovery (audited rotation.recovered) and then logs in"

# --- rotate --all: every host verified, distinct passwords ------------------------------------
seq0=$(sql "$dir" "SELECT max(seq) FROM audit_events;")
for i in $(seq -w 1 "$N"); do shadow_of "web$i" carol; done >"$TMP/carol-before"
cli_as op rotate --all --group web >"$TMP/all1.out" 2>"$TMP/all1.err" || fail "rotate --all --group web: $(cat "$TMP/all1.err")"
[ "$(grep -cE "^root@web[0-9]+ +rotated" "$TMP/all1.out")" -eq "$N" ] || fail "rotated lines: $(cat "$TMP/all1.out")"
verified=$(sql "$dir" "SELECT count(DISTINCT target) FROM audit_events WHERE action = 'rotation.verified' AND seq > $seq0;")
[ "$verified" -eq "$N" ] || fail "$verified verified rotations (wanted $N)"
cli_as audrey --json accounts list >"$TMP/accounts1.json" || fail "accounts list"
json_rows "$TMP/accounts1.json" accounts host state fingerprint >"$TMP/accounts1.tsv"
[ "$(awk -F'\t' '$1 ~ /^web/ && $2 == "current" && $3 != "" { print $3 }' "$TMP/accounts1.tsv" | sort -u | wc -l)" -eq "$N" ] ||
  fail "fingerprints are not $N distinct: $(cat "$TMP/accounts1.tsv")"
for i in $(seq -w 1 "$N"); do shadow_of "web$i" carol; done >"$TMP/carol-after"
cmp -s "$TMP/carol-before" "$TMP/carol-after" || fail "carol's /etc/shadow entries changed"
pass "rotate --all --group web: $N verified rotations, $N distinct fingerprints, no other account touched"

# --- rotate --all again: a host down, an rdp host ----------------------------------------------
cli_as op hosts add win01 --address 127.0.0.1:3389 --protocol rdp >/dev/null || fail "hosts add win01"
echo "Win-Admin-pw-$RANDOM$RANDOM" | cli_as op accounts add Administrator@win01 --password-stdin >/dev/null ||
  fail "accounts add Administrator@win01"
expect_refusal "win01: no account there can be rotated (manual: no rotation connector for rdp hosts); change it by hand" 1 \
  cli_as op rotate win01
bash "$harness/sshd_host.sh" stop "$(host_dir "$w2")"
w2_fp=$(awk -F'\t' -v h="$w2" '$1 == h { print $3 }' "$TMP/accounts1.tsv")
seq1=$(sql "$dir" "SELECT max(seq) FROM audit_events;")
rc=0
cli_as op rotate --all >"$TMP/all.out" 2>"$TMP/all.err" || rc=$?
[ "$rc" -eq 1 ] || fail "rotate --all exit $rc (wanted 1: one host is down): $(cat "$TMP/all.err")"
grep -qF "1 of $((N + 1)) rotations failed (job j-" "$TMP/all.err" || fail "rotate --all stderr: $(cat "$TMP/all.err")"
grep -qE "^root@$w2 +failed +.*(unreachable|refused|connect)" "$TMP/all.out" || fail "down host's line: $(grep "$w2" "$TMP/all.out")"
grep -qE "^Administrator@win01 +manual" "$TMP/all.out" || fail "rdp account's line: $(grep win01 "$TMP/all.out")"
[ "$(grep -cE "^root@web[0-9]+ +rotated" "$TMP/all.out")" -eq $((N - 1)) ] || fail "rotated lines: $(cat "$TMP/all.out")"
cli_as audrey --json accounts list >"$TMP/accounts.json" || fail "accounts list"
json_rows "$TMP/accounts.json" accounts host state fingerprint last_error >"$TMP/accounts.tsv"
awk -F'\t' -v h="$w2" '$1 == h { print $2, $3 }' "$TMP/accounts.tsv" | grep -qx "current $w2_fp" ||
  fail "the down host's vaulted password changed: $(grep "$w2" "$TMP/accounts.tsv")"
awk -F'\t' -v h="$w2" '$1 == h { print $4 }' "$TMP/accounts.tsv" | grep -qE "unreachable|refused|connect" ||
  fail "the down host's last error: $(grep "$w2" "$TMP/accounts.tsv")"
awk -F'\t' '$1 == "win01" { print $2 }' "$TMP/accounts.tsv" | grep -qx manual || fail "win01 not manual: $(cat "$TMP/accounts.tsv")"
verified=$(sql "$dir" "SELECT count(DISTINCT target) FROM audit_events WHERE action = 'rotation.verified' AND seq > $seq1;")
[ "$verified" -eq $((N - 1)) ] || fail "$verified verified rotations (wanted $((N - 1)))"
[ "$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'rotation.failed' AND target = 'root@$w2';")" -ge 1 ] ||
  fail "the down host's failure is not audited"
[ "$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action LIKE 'rotation.%' AND target LIKE '%win01';")" -eq 0 ] ||
  fail "the manual account has rotation events"
pass "rotate --all: $((N - 1)) hosts rotated, $w2 (down) failed with its cause and kept its password, win01 manual"

# --- jobs ----------------------------------------------------------------------------------------
job=$(cli_as op rotate "$w" --no-wait) || fail "rotate --no-wait"
[[ "$job" =~ ^j-[0-9a-f]+$ ]] || fail "--no-wait printed '$job'"
for _ in $(seq 1 300); do
  state=$(cli_as op --json jobs "$job" | json_field - state)
  [ "$state" != running ] && break
  sleep 0.2
done
[ "$state" = done ] || fail "job $job is $state"
cli_as audrey jobs >"$TMP/jobs.out" || fail "jobs (auditor)"
grep -qF "$job" "$TMP/jobs.out" || fail "the auditor does not see the job: $(cat "$TMP/jobs.out")"
cli_as alice jobs >"$TMP/alice-jobs.out" || fail "jobs (alice)"
! grep -qF "$job" "$TMP/alice-jobs.out" || fail "alice sees the operator's job"
expect_refusal "no job $job" 1 cli_as alice jobs "$job"
expect_refusal "operator" 1 cli_as alice rotate "$w"
pass "rotate --no-wait prints the job id; jobs shows it to operators and auditors, not to alice; rotate is operator only"

# --- no secret anywhere -----------------------------------------------------------------------
cat "$TMP"/*.out "$TMP"/*.err "$GW_LOG" >"$TMP/everything" 2>/dev/null || true
sql "$dir" "SELECT details FROM audit_events;" >>"$TMP/everything"
for f in "$TMP"/pw/*; do
  ! grep -qF -- "$(cat "$f")" "$TMP/everything" || fail "a vaulted password appears in the output, log or audit"
done
pass "no password in the CLI output, the gateway log or the audit details"
