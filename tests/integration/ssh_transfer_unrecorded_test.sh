#!/usr/bin/env bash
# No unrecorded path through the file-transfer relay (issue 12), with real parts: a real sekishod,
# a real sshd host web01, the real OpenSSH ssh, sftp and scp.
#  - A command that only starts with `scp` is not a transfer: `scp -f x </dev/null; id` runs as a
#    recorded session, so the output of `id` is in the recording.
#  - Under allow_download = false, the same trick with a claimed upload (`scp -t …; cat FILE`) is
#    a recorded session too: the file's bytes are in the recording, never passed unrecorded.
#  - An SFTP or scp stream the parser cannot follow is ended (with a message and a marker).
#  - SFTP requests that change the target are audited (session.file_change) and recorded.
#  - allow_download = false still refuses real sftp and scp -O downloads.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"

dir="$TMP/var"
init_data_dir "$dir"
write_ssh_config "$TMP/c.toml"
start_ssh_gateway "$dir" "$TMP/c.toml"
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
echo "$web_port" >"$TMP/web01/port"
ssh_granted_session "$dir" "$TMP/web01" web01

opts=("${GW_SSH_OPTS[@]}" -i "$TMP/alice.key" -o User=root@web01)
tgt="$TMP/target-files"
mkdir -p "$tgt" "$TMP/client"
# recording_text SID: the asciicast export of SID (output, input and markers).
recording_text() {
  cli_as audrey export "$1" --format asciicast --out "$TMP/$1.cast" >/dev/null || fail "export $1"
  cat "$TMP/$1.cast"
}
expect_in_recording() {
  local cast
  cast=$(recording_text "$1")
  grep -qF -- "$2" <<<"$cast" || fail "recording $1 lacks '$2': $(head -c 2000 <<<"$cast")"
}

# --- a command that merely starts with scp is a recorded session --------------------------------
rc=0
out=$(timeout 60 ssh "${opts[@]}" -p "$SSH_PORT" 127.0.0.1 'scp -f x </dev/null; id' 2>"$TMP/e1") ||
  rc=$?
grep -qF 'uid=0(root)' <<<"$out" || fail "the exploit command did not run (rc $rc): $out $(cat "$TMP/e1")"
sid=$(newest_session audrey alice id)
expect_in_recording "$sid" 'uid=0(root)'
pass "'scp -f x </dev/null; id': the output of id is in the recording"

# --- an SFTP stream that cannot be followed is ended, not passed through --------------------------
# A length field above the parser's limit (0x7fffffff) and then text: nothing of it may reach the
# target unparsed.
rc=0
printf '\x7f\xff\xff\xffunparsed bytes\n' |
  timeout 60 ssh "${opts[@]}" -p "$SSH_PORT" -s 127.0.0.1 sftp >"$TMP/lost.out" 2>"$TMP/lost.err" ||
  rc=$?
[ "$rc" -ne 0 ] || fail "an SFTP stream out of sync ended with rc 0"
grep -qF "sekisho: the SFTP stream cannot be followed; the session is ended" "$TMP/lost.err" ||
  fail "no message for a stream out of sync (rc $rc): $(cat "$TMP/lost.err")"
sid=$(newest_session audrey alice id)
expect_in_recording "$sid" "sftp not followed: a client packet of 2147483647 bytes"
reason=$(newest_session audrey alice end_reason)
[ "$reason" = "sftp stream not followed" ] || fail "session ended with '$reason'"
pass "an SFTP stream out of sync under a permissive policy: ended with a message and a marker"

# --- an scp stream that cannot be followed is ended too ---------------------------------------
rc=0
printf 'Zzz not an scp line\nmore bytes\n' |
  timeout 60 ssh "${opts[@]}" -p "$SSH_PORT" 127.0.0.1 "scp -t $tgt/lost.bin" >"$TMP/scp-lost.out" \
    2>"$TMP/scp-lost.err" || rc=$?
[ "$rc" -ne 0 ] || fail "an scp stream out of sync ended with rc 0"
grep -qF "sekisho: the scp stream cannot be followed; the session is ended" "$TMP/scp-lost.err" ||
  fail "no message for an scp stream out of sync (rc $rc): $(cat "$TMP/scp-lost.err")"
sid=$(newest_session audrey alice id)
expect_in_recording "$sid" "scp not followed: an scp line that could not be parsed"
pass "an scp stream out of sync: ended with a message and a marker"

# --- SFTP requests that change the target: audited (session.file_change) and recorded -----------
printf 'data\n' >"$tgt/a.txt"
cat >"$TMP/changes" <<EOF
mkdir $tgt/d
rename $tgt/a.txt $tgt/b.txt
chmod 600 $tgt/b.txt
ln -s $tgt/b.txt $tgt/sym
ln $tgt/b.txt $tgt/hard
rm $tgt/sym
rmdir $tgt/d
EOF
timeout 60 sftp "${opts[@]}" -P "$SSH_PORT" -b "$TMP/changes" 127.0.0.1 >"$TMP/ch.out" 2>&1 ||
  fail "sftp changes: $(cat "$TMP/ch.out")"
[ -e "$tgt/b.txt" ] && [ -e "$tgt/hard" ] && [ ! -e "$tgt/d" ] || fail "the changes were not made"
changes() { sql "$dir" "SELECT details FROM audit_events WHERE action = 'session.file_change';"; }
for want in '"operation":"mkdir","path":"'"$tgt/d"'"' \
  '"new_path":"'"$tgt/b.txt"'","operation":"rename","path":"'"$tgt/a.txt"'"' \
  '"operation":"setstat","path":"'"$tgt/b.txt"'"' \
  '"new_path":"'"$tgt/hard"'","operation":"hardlink","path":"'"$tgt/b.txt"'"' \
  '"operation":"remove","path":"'"$tgt/sym"'"' '"operation":"rmdir","path":"'"$tgt/d"'"' \
  '"operation":"symlink"'; do
  grep -qF -- "$want" <<<"$(changes)" || fail "no session.file_change with $want: $(changes)"
done
[ "$(audit_count "$dir" session.file_change '"result":"ok"')" -eq 7 ] || fail "results: $(changes)"
sid=$(newest_session audrey alice id)
[ "$(audit_count "$dir" session.file_change "$sid")" -eq 7 ] || fail "changes lack the session id"
expect_in_recording "$sid" "file rename $tgt/a.txt -> $tgt/b.txt (ok)"
expect_in_recording "$sid" "file remove $tgt/sym (ok)"
pass "sftp mkdir, rename, chmod, symlink, hardlink, rm, rmdir: audited as session.file_change and recorded"

# --- allow_download = false ---------------------------------------------------------------------
stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway exit $GW_RC"
printf 'allow_download = false\n' >>"$TMP/c.toml" # the file ends with the request's [[policy]] rule
start_ssh_gateway "$dir" "$TMP/c.toml"
login_as audrey audrey "audrey-Password-22" >/dev/null 2>&1 || fail "login audrey again" # new port
secret_line="not-to-leave-unrecorded-$RANDOM$RANDOM"
printf '%s\n' "$secret_line" >"$tgt/secret.txt"

# The claimed upload that prints a file: a recorded session, the file's bytes in the recording.
rc=0
out=$(timeout 60 ssh "${opts[@]}" -p "$SSH_PORT" 127.0.0.1 \
  "scp -t $tgt/x </dev/null; cat $tgt/secret.txt" 2>"$TMP/e2" | tr -d '\0') || rc=$? # scp's ack
grep -qF "$secret_line" <<<"$out" || fail "the command did not run (rc $rc): $out $(cat "$TMP/e2")"
expect_in_recording "$(newest_session audrey alice id)" "$secret_line"
pass "allow_download = false, 'scp -t …; cat FILE': the file's bytes are in the recording"

# Real downloads stay refused: sftp get and scp -O.
printf 'get %s %s\n' "$tgt/secret.txt" "$TMP/client/got.txt" >"$TMP/batch"
rc=0
timeout 60 sftp "${opts[@]}" -P "$SSH_PORT" -b "$TMP/batch" 127.0.0.1 >"$TMP/get.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "an sftp download went through under allow_download = false"
[ ! -e "$TMP/client/got.txt" ] || fail "the refused sftp download arrived"
grep -qi "permission denied" "$TMP/get.out" || fail "sftp shows no refusal: $(cat "$TMP/get.out")"
rc=0
timeout 60 scp -O "${opts[@]}" -P "$SSH_PORT" "127.0.0.1:$tgt/secret.txt" "$TMP/client/got2.txt" \
  >"$TMP/scp.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "an scp -O download went through under allow_download = false"
grep -qF "download is refused by the gateway's policy" "$TMP/scp.out" ||
  fail "scp shows no refusal: $(cat "$TMP/scp.out")"
[ ! -e "$TMP/client/got2.txt" ] || fail "the refused scp download arrived"
[ "$(audit_count "$dir" ssh.refused '"what":"download"')" -ge 2 ] ||
  fail "refused downloads not audited: $(sql "$dir" "SELECT details FROM audit_events WHERE action = 'ssh.refused';")"
pass "allow_download = false: sftp get and scp -O download refused with a message and audited"

stop_gateway TERM
[ "$GW_RC" -eq 0 ] || fail "gateway exit $GW_RC"
