#!/usr/bin/env bash
# The recordings' disk (issue 13, "Recording disk: caps and retention"), with real parts: a real
# sekishod, a real sshd host web01, the real OpenSSH ssh and the sekisho CLI.
#  - With [recordings] max_total_bytes reached, a new session is refused with one clear line to
#    the ssh client, audited as session.refused (reason "recording disk full") and logged at
#    error; no session row and no recording are made (a session is never run unrecorded).
#  - Retention ([recordings] keep) deletes the recording of an ended session, audits
#    recording.deleted with the session id and the recording hash of its session.end, keeps the
#    row (`sekisho sessions` says the recording was deleted), and export says why it cannot.
#    The daemon has no test clock: keep is a few seconds here and the wait for the pass is bounded.
#  - Once retention freed the disk under the cap, sessions start again.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
recordings='[recordings]
max_total_bytes = 1
min_free_bytes = 0'
write_ssh_config "$TMP/c.toml"
printf '%s\n' "$recordings" >>"$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
echo "$web_port" >"$TMP/web01/port"
ssh_granted_session "$dir" "$TMP/web01" web01

opts=("${GW_SSH_OPTS[@]}" -i "$TMP/alice.key" -o User=root@web01)
session_count() { sql "$dir" "SELECT count(*) FROM sessions;"; }

# --- under the cap: the first session runs (an empty recordings directory takes 0 bytes) --------
out=$(timeout 60 ssh "${opts[@]}" -p "$SSH_PORT" 127.0.0.1 'echo first-session-ran' 2>"$TMP/e1") ||
  fail "the first session failed: $(cat "$TMP/e1")"
[ "$out" = "first-session-ran" ] || fail "first session printed: $out"
[ "$(session_count)" -eq 1 ] || fail "sessions after the first: $(session_count)"
first=$(sql "$dir" "SELECT id FROM sessions;")
# The session's end is written by the core after the client saw the exit: wait for it (bounded).
for _ in $(seq 1 100); do
  [ -n "$(sql "$dir" "SELECT recording_hash FROM sessions WHERE id = '$first';")" ] && break
  sleep 0.1
done
hash=$(sql "$dir" "SELECT recording_hash FROM sessions WHERE id = '$first';")
[ -n "$hash" ] || fail "the first session has no recording hash"
pass "under the cap a session runs and is recorded"

# --- the cap is reached: a new session is refused, audited, logged at error ---------------------
rc=0
out=$(timeout 60 ssh "${opts[@]}" -p "$SSH_PORT" 127.0.0.1 'echo must-not-run' 2>"$TMP/e2") || rc=$?
[ "$rc" -eq 1 ] || fail "a refused session ended with rc $rc (wanted 1): $out $(cat "$TMP/e2")"
[ -z "$out" ] || fail "the refused session ran: $out"
grep -qxF "sekisho: the gateway's recording disk is full; new sessions are refused" "$TMP/e2" ||
  fail "no refusal line on the client: $(cat "$TMP/e2")"
[ "$(session_count)" -eq 1 ] || fail "a refused session left a row"
[ "$(ls "$dir/recordings" | grep -c '\.skr$')" -eq 1 ] || fail "a refused session left a file"
refused=$(sql "$dir" "SELECT actor || ' ' || target || ' ' || details FROM audit_events
  WHERE action = 'session.refused';")
[ "$(wc -l <<<"$refused")" -eq 1 ] || fail "session.refused events: $refused"
for want in 'alice root@web01 ' '"reason":"recording disk full"'; do
  grep -qF -- "$want" <<<"$refused" || fail "session.refused lacks $want: $refused"
done
# The index files the core writes beside a closed recording may land meanwhile: any size >= 1.
grep -qE '"detail":"recordings take [1-9][0-9]* bytes, max_total_bytes is 1"' <<<"$refused" ||
  fail "session.refused lacks the cap it reached: $refused"
grep -q ' error ssh: .*recording disk full' "$GW_LOG" || fail "no error log line: $(tail -5 "$GW_LOG")"
pass "at the cap a new session is refused: one line to the client, session.refused audited, error logged"

# --- retention: the ended session's recording is deleted, audited, and the row stays ------------
stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway exit $GW_RC"
write_ssh_config "$TMP/c.toml"
printf '%s\nkeep = "2s"\n' "$recordings" >>"$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"
# The CLI's login belongs to the server URL, and the restarted gateway has another port.
login_as audrey audrey audrey-Password-22 >/dev/null 2>"$TMP/login.err" ||
  fail "audrey's login: $(cat "$TMP/login.err")"
deleted=
for _ in $(seq 1 150); do # at most 15 s: keep is 2 s and a pass runs every second
  deleted=$(sql "$dir" "SELECT actor || ' ' || target || ' ' || details FROM audit_events
    WHERE action = 'recording.deleted';")
  [ -n "$deleted" ] && break
  sleep 0.1
done
[ -n "$deleted" ] || fail "no recording.deleted within 15 s: $(tail -5 "$GW_LOG")"
for want in 'sekishod root@web01 ' '"session":"'"$first"'"' '"recording_hash":"'"$hash"'"' \
  '"keep":"2s"' '"user":"alice"'; do
  grep -qF -- "$want" <<<"$deleted" || fail "recording.deleted lacks $want: $deleted"
done
[ ! -e "$dir/recordings/$first.skr" ] || fail "the recording file is still there"
[ ! -e "$dir/recordings/$first.skr.seek" ] || fail "the seek index is still there"
[ "$(session_count)" -eq 1 ] || fail "the session row is gone"
listing=$(cli_as audrey sessions) || fail "sessions: $listing"
grep -F "$first" <<<"$listing" | grep -qF "closed (recording deleted " ||
  fail "sessions does not say the recording was deleted: $listing"
at=$(cli_as audrey --json sessions | json_field - sessions.0.recording_deleted_at)
[ "$(sql "$dir" "SELECT recording_deleted_at FROM sessions WHERE id = '$first';")" = "$at" ] ||
  fail "sessions --json recording_deleted_at is $at"
expect_refusal "session $first: recording deleted by retention on $at" 1 \
  cli_as audrey export "$first" --format asciicast --out "$TMP/x.cast"
pass "retention deleted the recording: recording.deleted audited with its hash, the row kept, export says why"

# --- the disk is under the cap again: sessions start ---------------------------------------------
out=$(timeout 60 ssh "${opts[@]}" -p "$SSH_PORT" 127.0.0.1 'echo runs-again' 2>"$TMP/e3") ||
  fail "a session after retention failed: $(cat "$TMP/e3")"
[ "$out" = "runs-again" ] || fail "the session after retention printed: $out"
pass "with the recordings deleted, a new session runs"

stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway exit $GW_RC"
