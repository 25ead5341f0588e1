#!/usr/bin/env bash
# The approval workflow end to end through the real CLI against a real sekishod, with a real sshd
# host behind root@web01 and a real local HTTP receiver for the webhook: alice requests, bob and
# carol approve (policy: 2 approvals), the grant opens and then expires; self-approval, duplicate
# and outsider reviews are refused; a deny ends a request; cancel; break-glass with its overdue
# review; every step in the audit log, in order.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

# The webhook receiver (a real HTTP server on loopback) and a port where nothing listens.
hooks="$TMP/hooks.txt"
: >"$hooks"
coproc RECEIVER { exec python3 "$harness/webhook_receiver.py" "$hooks"; }
STARTED_PIDS+=("$RECEIVER_PID")
read -r -t 10 hook_port <&"${RECEIVER[0]}" || fail "webhook receiver did not start"
dead_port=$(free_port)
hook_token="hook-token-$RANDOM$RANDOM"

dir="$TMP/var"
init_data_dir "$dir"
write_config "$TMP/c.toml" "
[auth]
max_failures = 1000
[[policy]]
name = \"web\"
hosts = [\"web*\"]
requesters = [\"role:requester\"]
approvers = [\"role:approver\"]
approvals = 2
max_duration = \"4h\"
[[policy]]
name = \"rest\"
hosts = [\"*\"]
requesters = [\"role:requester\"]
approvers = [\"role:approver\"]
[break_glass]
members = [\"user:olivia\"]
review_within = \"2s\"
[[notify.webhook]]
url = \"http://127.0.0.1:$hook_port/hooks/$hook_token\"
max_attempts = 3
[[notify.webhook]]
url = \"http://127.0.0.1:$dead_port/dead/$hook_token\"
max_attempts = 1
"
start_gateway "$dir" "$TMP/c.toml"
login_as op admin "$(one_time_password "$dir")" "operator-Password-1" 2>/dev/null || fail "operator login"
for u in alice:requester bob:approver carol:approver olivia:requester audrey:auditor; do
  name=${u%%:*}
  printf '%s\n' "$name-Initial-pw1" | cli_as op users add "$name" --roles "${u##*:}" --password-stdin >/dev/null \
    || fail "users add $u"
  login_as "$name" "$name" "$name-Initial-pw1" "$name-Password-22" >/dev/null 2>&1 || fail "login $name"
done
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
cli_as op hosts add web01 --address "127.0.0.1:$web_port" >/dev/null || fail "hosts add web01"
printf 'Root-Secret-%s\n' "$RANDOM$RANDOM" | cli_as op accounts add root@web01 --password-stdin >/dev/null \
  || fail "accounts add"

# grant USER TARGET: the user's grant as the API reports it ("true"/"false"). The token goes to
# curl in a header file, never on a command line.
grant() {
  printf 'Authorization: Bearer %s\n' "$(cat "$TMP/home-$1/token")" >"$TMP/auth-$1"
  curl -sS --max-time 10 --cacert "$dir/tls.crt" -H @"$TMP/auth-$1" \
    "https://127.0.0.1:$GW_PORT/v1/grant?target=$2&mode=session" |
    json_field - granted
}
state_of() { cli_as "$1" --json show "$2" | json_field - state; }

# --- request → two approvals → grant --------------------------------------------------------------
id=$(cli_as alice request root@web01 --reason "patch openssl CVE" --ticket CHG-1 --duration 2h) \
  || fail "request"
[[ "$id" =~ ^r-[0-9a-f]{12}$ ]] || fail "request printed '$id', not a request id"
[ "$(state_of alice "$id")" = pending ] || fail "a new request is not pending"
[ "$(grant alice root@web01)" = false ] || fail "a pending request grants access"
expect_refusal "you cannot review your own request" 1 cli_as alice approve "$id"
cli_as bob approve "$id" --comment "looks right" >"$TMP/out1" || fail "bob approve"
grep -qF "pending 1/2" "$TMP/out1" || fail "after one of two approvals: $(cat "$TMP/out1")"
[ "$(grant alice root@web01)" = false ] || fail "one of two approvals grants access"
expect_refusal "you already reviewed request $id" 1 cli_as bob approve "$id"
expect_refusal "olivia is not an approver for web01" 1 cli_as olivia approve "$id"
cli_as carol approve "$id" >"$TMP/out2" || fail "carol approve"
grep -qF "approved" "$TMP/out2" || fail "after two approvals: $(cat "$TMP/out2")"
[ "$(grant alice root@web01)" = true ] || fail "an approved request grants nothing"
[ "$(grant olivia root@web01)" = false ] || fail "alice's approval granted olivia access"
shown=$(cli_as audrey show "$id")
for needle in "bob" "looks right" "carol" "approve" "CHG-1" "2 of 2 (policy web)"; do
  grep -qF "$needle" <<<"$shown" || fail "show lacks '$needle': $shown"
done
pass "request → 1st approval (pending 1/2) → 2nd approval (approved) → grant; refusals named"

expect_refusal "exceeds the maximum of policy web (4h)" 1 \
  cli_as alice request root@web01 --reason r --duration 5h
expect_refusal "no account root@db01 is registered" 1 cli_as alice request root@db01 --reason r
expect_refusal "reason" 2 cli_as alice request root@web01
expect_refusal "bob may not request access to web01" 1 cli_as bob request root@web01 --reason r
pass "window above the policy maximum, unknown target, missing reason, non-requester: refused"

# --- a window that passes ---------------------------------------------------------------------------
short=$(cli_as alice request root@web01 --reason "quick look" --duration 8s) || fail "short request"
cli_as bob approve "$short" >/dev/null || fail "approve short"
cli_as carol approve "$short" >/dev/null || fail "approve short (2)"
for _ in $(seq 1 100); do
  [ "$(state_of alice "$short")" = expired ] && break
  sleep 0.2
done
[ "$(state_of alice "$short")" = expired ] || fail "the short window did not expire"
expect_refusal "is expired" 1 cli_as alice cancel "$short"
pass "an approved request whose window ended unused is expired"

# --- deny and cancel --------------------------------------------------------------------------------
denied=$(cli_as alice request root@web01 --reason "again") || fail "request 3"
expect_refusal "a deny needs a comment" 1 cli_as carol deny "$denied" --comment " "
cli_as carol deny "$denied" --comment "change freeze" >/dev/null || fail "deny"
[ "$(state_of alice "$denied")" = denied ] || fail "a deny did not end the request"
expect_refusal "is denied; nothing to review" 1 cli_as bob approve "$denied"
cancelled=$(cli_as alice request root@web01 --reason "not needed after all") || fail "request 4"
expect_refusal "only the requester can cancel" 1 cli_as olivia cancel "$cancelled"
cli_as alice cancel "$cancelled" >/dev/null || fail "cancel"
[ "$(state_of alice "$cancelled")" = cancelled ] || fail "cancel did not stick"
expect_refusal "is cancelled; nothing to review" 1 cli_as bob approve "$cancelled"
pass "a single deny ends a request; only the requester cancels; nothing is reviewed after"

# --- who sees what ----------------------------------------------------------------------------------
mine=$(cli_as olivia requests)
grep -qF "no requests" <<<"$mine" || fail "olivia sees others' requests: $mine"
expect_refusal "no request $id" 1 cli_as olivia show "$id"
all=$(cli_as audrey --json requests | json_rows - requests id | wc -l)
[ "$all" -eq 4 ] || fail "the auditor sees $all requests, not 4"
pending=$(cli_as bob requests --pending)
grep -qF "no requests" <<<"$pending" || fail "nothing is pending, but: $pending"
pass "requesters see their own requests; approvers and auditors see all"

# --- break-glass ------------------------------------------------------------------------------------
expect_refusal "alice is not a break-glass member" 1 \
  cli_as alice request root@web01 --reason "outage" --break-glass
bg=$(cli_as olivia request root@web01 --reason "prod outage INC-7" --break-glass 2>"$TMP/bg.err") \
  || fail "break-glass request: $(cat "$TMP/bg.err")"
grep -qF "every approver has been notified" "$TMP/bg.err" || fail "no break-glass notice"
[ "$(grant olivia root@web01)" = true ] || fail "break-glass did not open access at once"
overdue=$(cli_as bob requests --pending)
grep -qF "$bg" <<<"$overdue" && grep -qF "review overdue" <<<"$overdue" \
  || fail "the break-glass request does not show as review overdue: $overdue"
for _ in $(seq 1 100); do
  grep -qF '"request.review_overdue"' "$hooks" && break
  sleep 0.2
done
grep -qF '"request.review_overdue"' "$hooks" || fail "no overdue-review webhook"
expect_refusal "you cannot review your own request" 1 cli_as olivia approve "$bg"
cli_as bob approve "$bg" --comment "justified by INC-7" >/dev/null || fail "post-hoc review"
if cli_as bob requests --pending | grep -qF "$bg"; then fail "still overdue after its review"; fi
[ "$(grant olivia root@web01)" = true ] || fail "the approving review closed the access"
pass "break-glass: open at once, overdue until reviewed, reminder sent, reviewed afterwards"

# --- webhook ----------------------------------------------------------------------------------------
for _ in $(seq 1 50); do
  [ "$(grep -c "" "$hooks")" -ge 6 ] && break
  sleep 0.2
done
for event in request.created request.approved request.denied request.break_glass request.review_overdue; do
  grep -qF "\"event\": \"$event\"" "$hooks" || grep -qF "\"event\":\"$event\"" "$hooks" \
    || fail "webhook never received $event: $(cat "$hooks")"
done
python3 - "$hooks" "$id" <<'PY' || fail "webhook bodies are not the documented JSON"
import json, sys
seen = False
for line in open(sys.argv[1]):
    path, body = line.rstrip("\n").split("\t", 1)
    msg = json.loads(body)
    assert path.startswith("/hooks/"), path
    assert isinstance(msg["text"], str) and msg["text"], msg
    assert "sent_at" in msg and isinstance(msg["fields"], dict), msg
    if msg["event"] == "request.approved" and msg["fields"]["request"] == sys.argv[2]:
        assert msg["fields"]["target"] == "root@web01", msg
        assert msg["fields"]["requester"] == "alice", msg
        seen = True
assert seen, "no approval message for the first request"
PY
pass "the webhook received new request, approval, deny, break-glass and overdue messages"

# --- audit trail ------------------------------------------------------------------------------------
stop_gateway TERM
trail=$(sql "$dir" "SELECT action || ' ' || actor FROM audit_events WHERE action LIKE 'request.%' AND (target = '$id' OR details LIKE '%\"$id\"%') ORDER BY seq;")
expected="request.create alice
request.refused alice
request.review bob
request.refused bob
request.refused olivia
request.review carol
request.approved carol"
[ "$trail" = "$expected" ] || fail "audit trail of $id is:
$trail"
actions=$(audit_actions "$dir")
for a in request.expired request.denied request.cancelled request.break_glass request.review_overdue notify.failed; do
  grep -qx "$a" <<<"$actions" || fail "no $a in the audit log"
done
failed=$(sql "$dir" "SELECT target FROM audit_events WHERE action = 'notify.failed' LIMIT 1;")
[ "$failed" = "http://127.0.0.1:$dead_port" ] || fail "notify.failed names '$failed'"
if grep -aqF "$hook_token" "$GW_LOG"; then fail "the webhook URL's token is in the gateway log"; fi
if sql "$dir" "SELECT target || details FROM audit_events;" | grep -qF "$hook_token"; then
  fail "the webhook URL's token is in the audit log"
fi
bash "$harness/sshd_host.sh" stop "$TMP/web01" >/dev/null
pass "the audit log shows every step in order; failed deliveries are audited without the URL token"
