#!/usr/bin/env bash
# Recorded sessions end to end, with the real sekishod and the real sekisho CLI: record-demo of
# real commands in a pty (text with a unique marker, coloured ls, 100000 random bytes, typed
# input); sessions listing with filters, search, byte-exact replay (also page by page over the
# API), asciicast export read by the real asciinema, .skr export verified offline (and refused
# after one flipped byte); auditor-only access with every use and refusal in the audit log.
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"
: "${SEKISHO_BUILD_DIR:?SEKISHO_BUILD_DIR must point at the build dir (ctest sets it)}"
command -v asciinema >/dev/null || fail "asciinema is not installed (scripts/setup.sh installs it)"


dir="$TMP/var"
init_data_dir "$dir"
write_config "$TMP/c.toml"
start_gateway "$dir" "$TMP/c.toml"
login_as op admin "$(one_time_password "$dir")" "operator-Password-1" 2>/dev/null || fail "operator login"
for u in rita:requester audrey:auditor; do
  printf '%s\n' "${u%%:*}-Initial-pw1" | cli_as op users add "${u%%:*}" --roles "${u##*:}" --password-stdin >/dev/null \
    || fail "users add $u"
  login_as "${u%%:*}" "${u%%:*}" "${u%%:*}-Initial-pw1" "${u%%:*}-Password-22" 2>/dev/null || fail "login ${u%%:*}"
done
# A real sshd "host" whose key `hosts add` pins; the recordings below are of local commands run
# by record-demo on its behalf (the SSH proxy that will record real sessions comes later).
mkdir -p "$TMP/web01"
read -r web_port web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
cli_as op hosts add web01 --address "127.0.0.1:$web_port" >/dev/null || fail "hosts add web01"
printf 'Root-Secret-%s\n' "$RANDOM$RANDOM" | cli_as op accounts add root@web01 --password-stdin >/dev/null \
  || fail "accounts add root@web01"
bash "$harness/sshd_host.sh" stop "$TMP/web01" >/dev/null

demo() { "$SEKISHOD" record-demo --data-dir "$dir" "$@"; }
expect_refusal "stop the gateway" 1 demo --user rita --target root@web01 -- true
stop_gateway TERM

# --- recording ------------------------------------------------------------------------------
expect_refusal "no user mallory" 1 demo --user mallory --target root@web01 -- true
expect_refusal "no account oracle@web01" 1 demo --user rita --target oracle@web01 -- true
expect_refusal "no host web99" 1 demo --user rita --target root@web99 -- true
expect_refusal "no request req-404" 1 demo --user rita --target root@web01 --request req-404 -- true
expect_refusal "ACCOUNT@HOST" 1 demo --user rita --target web01 -- true
pass "record-demo refuses a running gateway, unknown users, targets and requests"

marker="MARKER-$RANDOM$RANDOM"
typed="TYPED-$RANDOM$RANDOM"
head -c 100000 /dev/urandom >"$TMP/rand.bin"
id_text=$(demo --user rita --target root@web01 -- printf 'hello %s\nsecond line\n' "$marker" \
  2>"$TMP/rd.err" </dev/null) || fail "record-demo printf: $(cat "$TMP/rd.err")"
id_ls=$(demo --user admin --target root@web01 --cols 100 --rows 30 -- ls --color=always / \
  2>>"$TMP/rd.err" </dev/null) || fail "record-demo ls: $(cat "$TMP/rd.err")"
id_bin=$(demo --user rita --target root@web01 -- cat "$TMP/rand.bin" 2>>"$TMP/rd.err" </dev/null) \
  || fail "record-demo cat: $(cat "$TMP/rd.err")"
id_typed=$(printf '%s\n' "$typed" | demo --user rita --target root@web01 -- head -n 1 2>>"$TMP/rd.err") \
  || fail "record-demo head: $(cat "$TMP/rd.err")"
for id in "$id_text" "$id_ls" "$id_bin" "$id_typed"; do
  [[ "$id" =~ ^[0-9a-f]{16}$ ]] || fail "record-demo printed '$id' as a session id"
  f="$dir/recordings/$id.skr"
  [ -f "$f" ] || fail "no recording $f"
  [ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f")"
done
[ "$(stat -c %a "$dir/recordings")" = 700 ] || fail "recordings dir mode $(stat -c %a "$dir/recordings")"
if grep -qaF "$marker" "$dir/recordings/$id_text.skr"; then fail "the marker is in the .skr file in clear"; fi
# A pty turns "\n" into "\r\n" (ONLCR): that is what the user saw, and what replay must give back.
printf 'hello %s\r\nsecond line\r\n' "$marker" >"$TMP/expect-text"
python3 -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1],"rb").read().replace(b"\n", b"\r\n"))' \
  "$TMP/rand.bin" >"$TMP/expect-bin"
pass "four sessions recorded (0600 files in a 0700 dir, nothing in clear)"

# --- listing --------------------------------------------------------------------------------
start_gateway "$dir" "$TMP/c.toml"
# The gateway listens on a new port: a new server for the CLI, so log in again.
login_as audrey audrey "audrey-Password-22" 2>/dev/null || fail "auditor login"
login_as rita rita "rita-Password-22" 2>/dev/null || fail "requester login"
login_as op admin "operator-Password-1" 2>/dev/null || fail "operator login"

cli_as audrey sessions >"$TMP/list" || fail "sessions: $(cat "$TMP/list")"
head -1 "$TMP/list" | grep -qE '^ID +USER +TARGET +PROTOCOL +STARTED +DURATION +SIZE +STATE +REQUEST$' \
  || fail "sessions header: $(head -1 "$TMP/list")"
grep -qE "^$id_text +rita +root@web01 +ssh +20[0-9-]+T[0-9:.]+Z +[0-9]+:[0-9.]+ +[0-9.]+ (B|KiB) +closed" "$TMP/list" \
  || fail "sessions row of $id_text: $(cat "$TMP/list")"
[ "$(grep -c ' closed' "$TMP/list")" -eq 4 ] || fail "sessions: $(cat "$TMP/list")"
cli_as audrey --json sessions --user admin >"$TMP/l.json" || fail "sessions --user admin"
[ "$(json_rows "$TMP/l.json" sessions id | paste -sd,)" = "$id_ls" ] \
  || fail "--user admin: $(cat "$TMP/l.json")"
cli_as audrey --json sessions --user rita --host web01 --since 1h >"$TMP/l.json" || fail "sessions filters"
[ "$(json_rows "$TMP/l.json" sessions id | wc -l)" -eq 3 ] || fail "--user rita --since 1h: $(cat "$TMP/l.json")"
[ "$(json_rows "$TMP/l.json" sessions state | sort -u | paste -sd' ')" = closed ] \
  || fail "states: $(cat "$TMP/l.json")"
cli_as audrey sessions --since 2099-01-01T00:00:00Z | grep -qx "no sessions" || fail "--since future"
cli_as audrey sessions --host web02 | grep -qx "no sessions" || fail "--host web02"
expect_refusal "since: not an ISO 8601 time" 1 cli_as audrey sessions --since yesterday
pass "sessions lists user, account@host, times, size and state, filtered by user, host and since"

# --- search ---------------------------------------------------------------------------------
cli_as audrey --json sessions search "$marker" >"$TMP/s.json" || fail "sessions search"
[ "$(json_rows "$TMP/s.json" hits session | sort -u | paste -sd,)" = "$id_text" ] \
  || fail "search $marker: $(cat "$TMP/s.json")"
dur_text=$(cli_as audrey --json sessions --user rita | json_rows - sessions id duration_us |
  awk -F'\t' -v id="$id_text" '$1 == id { print $2 }')
json_rows "$TMP/s.json" hits at_us kind context | awk -F'\t' -v dur="$dur_text" -v m="$marker" \
  '!($1 >= 0 && $1 <= dur + 0 && $2 == "output" && index($3, m)) { bad = 1 } END { exit bad }' || fail "search offsets/context: $(cat "$TMP/s.json") (duration $dur_text)"
cli_as audrey sessions search "$marker" | grep -qE "^$id_text +[0-9]+:[0-9]{2}\.[0-9]{3} +output +rita +root@web01 +hello $marker" \
  || fail "search table: $(cli_as audrey sessions search "$marker")"
cli_as audrey --json sessions search "$typed" >"$TMP/s2.json" || fail "search typed"
json_rows "$TMP/s2.json" hits session kind | grep -qxF "$id_typed"$'\t'input || fail "typed input not found: $(cat "$TMP/s2.json")"
cli_as audrey sessions search "nothing-like-this-$RANDOM" | grep -q "^no matches in 4 sessions" \
  || fail "search without matches"
expect_refusal "search text must be 1-256 bytes" 1 cli_as audrey sessions search "$(head -c 300 /dev/zero | tr '\0' x)"
pass "sessions search finds the session and offset where text was shown or typed"

# --- replay ---------------------------------------------------------------------------------
cli_as audrey replay "$id_text" --speed 1000 --idle-limit 0.01 >"$TMP/out-text" </dev/null \
  || fail "replay text"
cmp "$TMP/out-text" "$TMP/expect-text" || fail "replay of $id_text differs: $(od -c "$TMP/out-text" | head)"
cli_as audrey replay "$id_bin" --speed 1000 --idle-limit 0.01 >"$TMP/out-bin" </dev/null || fail "replay bin"
cmp "$TMP/out-bin" "$TMP/expect-bin" || fail "replay of the random bytes differs"
cli_as audrey replay "$id_ls" --speed 1000 --idle-limit 0.01 >"$TMP/out-ls" </dev/null || fail "replay ls"
grep -qaF $'\e[' "$TMP/out-ls" && grep -qaF "usr" "$TMP/out-ls" || fail "replay of ls lacks colours or /usr"
cli_as audrey replay "$id_bin" --from 1h >"$TMP/out-late" </dev/null || fail "replay --from 1h"
[ ! -s "$TMP/out-late" ] || fail "replay from after the end wrote $(wc -c <"$TMP/out-late") bytes"
expect_refusal "--from: 'soon' is not a time offset" 1 cli_as audrey replay "$id_bin" --from soon
expect_refusal "no session 0000000000000000" 1 cli_as audrey replay 0000000000000000
expect_refusal "--speed must be" 1 cli_as audrey replay "$id_bin" --speed 0
# Page by page over the API with small pages: the skip cursor must neither lose nor repeat a record.
python3 - "$dir/tls.crt" "$GW_PORT" "$TMP/home-audrey/token" "$id_bin" "$TMP/paged" <<'EOF' || fail "paging"
import base64, json, ssl, sys, urllib.request
ca, port, token_file, sid, out = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
token = open(token_file).read().strip()
cursor, data, pages = (0, 0), b"", 0
while cursor is not None:
    url = f"https://127.0.0.1:{port}/v1/sessions/{sid}/events?from_us={cursor[0]}&skip={cursor[1]}&max_bytes=1024"
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    page = json.load(urllib.request.urlopen(req, context=ctx, timeout=10))
    pages += 1
    assert page["events"], "an empty page before the end"
    data += b"".join(base64.b64decode(e["data"]) for e in page["events"] if e["kind"] == "output")
    n = page["next"]
    cursor = None if n is None else (n["from_us"], n["skip"])
    assert pages < 10000
assert pages > 5, pages  # one record (a pty read) or more per page
open(out, "wb").write(data)
EOF
cmp "$TMP/paged" "$TMP/expect-bin" || fail "the paged replay differs"
pass "replay gives back the recorded bytes exactly (also page by page and from an offset)"

# --- export and offline verification ----------------------------------------------------------
cli_as audrey export "$id_text" --format asciicast --out "$TMP/text.cast" >/dev/null || fail "export asciicast"
[ "$(head -1 "$TMP/text.cast" | json_field - version)" = 2 ] || fail "asciicast header: $(head -1 "$TMP/text.cast")"
# asciinema cat insists on a terminal: give it one with script(1), which keeps what it printed.
script -q -e -c "asciinema cat '$TMP/text.cast'" "$TMP/cat.out" </dev/null >/dev/null \
  || fail "asciinema cat refused the export: $(cat "$TMP/cat.out")"
grep -qaF "hello $marker" "$TMP/cat.out" || fail "asciinema cat lacks the marker: $(cat "$TMP/cat.out")"
cli_as audrey export "$id_bin" --format skr --out "$TMP/bin.skr" >/dev/null || fail "export skr"
cmp "$TMP/bin.skr" "$dir/recordings/$id_bin.skr" || fail "the .skr export is not the recording"
[ "$(stat -c %a "$TMP/bin.skr")" = 600 ] || fail "export mode $(stat -c %a "$TMP/bin.skr")"
cli_as audrey export "$id_text" --format skr >"$TMP/text.skr" || fail "export skr to stdout"
cmp "$TMP/text.skr" "$dir/recordings/$id_text.skr" || fail "the .skr on stdout is not the recording"
expect_refusal "for RDP recordings" 1 cli_as audrey export "$id_text" --format png
expect_refusal "--format: gif not in {asciicast,skr,png,mp4}" 2 cli_as audrey export "$id_text" --format gif
code=$(curl -sS --cacert "$dir/tls.crt" -o "$TMP/gif.json" -w '%{http_code}' \
  -H "Authorization: Bearer $(cat "$TMP/home-audrey/token")" \
  "https://127.0.0.1:$GW_PORT/v1/sessions/$id_text/export?format=gif")
[ "$code" = 400 ] && [ "$(cat "$TMP/gif.json")" = '{"error":"bad_request","message":"format: must be asciicast or skr"}' ] \
  || fail "unknown format: $code $(cat "$TMP/gif.json")"

# verify needs no server and no login: another SEKISHO_HOME, no SEKISHO_SERVER.
offline() { env -u SEKISHO_SERVER SEKISHO_HOME="$TMP/nobody" "$SEKISHO_CLI" "$@"; }
offline verify "$TMP/bin.skr" --public-key "$dir/signing.pub" >"$TMP/v.out" || fail "verify: $(cat "$TMP/v.out")"
grep -qE '^result +OK$' "$TMP/v.out" && grep -qE '^chain +intact' "$TMP/v.out" \
  && grep -qE '^signature +valid, by the pinned key' "$TMP/v.out" \
  && grep -qE "^session +$id_bin$" "$TMP/v.out" && grep -qE '^target +root@web01$' "$TMP/v.out" \
  || fail "verify report: $(cat "$TMP/v.out")"
# With neither --public-key nor a key pinned at login, an intact file's signer is unknown: exit 1.
expect_refusal "the chain is intact but the signer " 1 offline verify "$TMP/bin.skr"
grep -qF "is unknown (pass --public-key FILE, or log in to its gateway once to pin its key)" "$TMP/err" \
  && grep -qE '^result +FAILED$' "$TMP/out" && grep -qE '^chain +intact' "$TMP/out" \
  && grep -qF "which is not pinned" "$TMP/out" || fail "verify without a trusted key: $(cat "$TMP/out" "$TMP/err")"
# The auditor's login pinned the gateway's signing key (known_gateways.json): verify uses it.
cli_as audrey verify "$TMP/bin.skr" >"$TMP/v-pin.out" || fail "verify with the pinned key: $(cat "$TMP/v-pin.out")"
grep -qE '^result +OK$' "$TMP/v-pin.out" \
  && grep -qF "valid, by the pinned key (the key pinned at login for https://127.0.0.1:" "$TMP/v-pin.out" \
  || fail "verify with the pinned key: $(cat "$TMP/v-pin.out")"
# A forged recording signed by a key of the forger's own, which the file carries: it used to
# verify (exit 0) for anyone who did not pass --public-key.
"$SEKISHO_BUILD_DIR/tests/recorder_tool" record --keys "$TMP/forger" --out "$TMP/forged.skr" \
  -- printf 'nothing happened here' >/dev/null </dev/null || fail "recording the forged file"
expect_refusal "the chain is intact but the signer " 1 cli_as audrey verify "$TMP/forged.skr"
grep -qE '^result +FAILED$' "$TMP/out" || fail "verify of a forged file: $(cat "$TMP/out")"
offline --json verify "$TMP/bin.skr" --public-key "$dir/signing.pub" >"$TMP/v.json" || fail "verify --json"
final_hash=$(json_field "$TMP/v.json" final_hash)
openssl genpkey -algorithm ed25519 -out "$TMP/other.key" 2>/dev/null
openssl pkey -in "$TMP/other.key" -pubout -out "$TMP/other.pub"
expect_refusal "does NOT verify" 1 offline verify "$TMP/bin.skr" --public-key "$TMP/other.pub"
cp "$TMP/bin.skr" "$TMP/flipped.skr"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0x40; open(p,"wb").write(b)' "$TMP/flipped.skr"
expect_refusal "does NOT verify: " 1 offline verify "$TMP/flipped.skr" --public-key "$dir/signing.pub"
grep -qE '^result +FAILED$' "$TMP/out" || fail "verify of a flipped byte: $(cat "$TMP/out")"
pass "export: asciicast that asciinema reads, the signed .skr that verifies offline, not after one flipped byte"

# --- roles, bad input, audit ------------------------------------------------------------------
expect_refusal "needs the auditor role" 1 cli_as rita sessions
expect_refusal "needs the auditor role" 1 cli_as rita replay "$id_text"
expect_refusal "needs the auditor role" 1 cli_as rita export "$id_text" --format skr --out "$TMP/x.skr"
expect_refusal "needs the auditor role" 1 cli_as op sessions search "$marker"
[ ! -e "$TMP/x.skr" ] && [ ! -e "$TMP/x.skr.part" ] || fail "a refused export left a file"
expect_refusal "session id" 1 cli_as audrey replay '../../etc'
stop_gateway TERM
actions=$(audit_actions "$dir")
for a in session.start session.end session.list session.search session.show session.replay \
  session.export access.denied; do
  grep -qx "$a" <<<"$actions" || fail "no $a in the audit log"
done
sql "$dir" "SELECT details FROM audit_events WHERE action = 'session.end';" | grep -F "$id_bin" \
  | grep -qF "\"recording_hash\":\"$final_hash\"" || fail "session.end of $id_bin lacks the verified hash $final_hash"
# replay asks for the session first: the refusal of an unknown one is a refused session.show.
sql "$dir" "SELECT actor || ' ' || details FROM audit_events WHERE action = 'session.show';" \
  | grep -qF 'audrey {"refused":"no session 0000000000000000"' || fail "the refused replay is not audited"
sql "$dir" "SELECT actor || ' ' || target FROM audit_events WHERE action = 'session.export';" \
  | grep -qx "audrey $id_bin" || fail "the export is not audited with its session"
sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'access.denied' AND actor = 'rita';" \
  | grep -qx 3 || fail "rita's three refusals are not all audited"
"$SEKISHOD" audit verify --data-dir "$dir" >/dev/null || fail "the audit chain does not verify"
pass "only auditors read recordings; every access and refusal is in the audit chain"
