#!/usr/bin/env bash
# Real terminal output recorded through a pty (ls, top, vim, binary noise): the recording
# verifies with the pinned key, replays byte for byte, and its asciicast export is read by the
# real asciinema, whose `cat` reproduces the recorded output.
source "$(dirname "$0")/../harness/lib.sh"

TOOL="${SEKISHO_BUILD_DIR:?}/tests/recorder_tool"
[ -x "$TOOL" ] || fail "recorder_tool not built: $TOOL"
command -v asciinema >/dev/null || fail "asciinema is not installed (scripts/setup.sh installs it)"
command -v script >/dev/null || fail "script (util-linux) is not installed"
KEYS="$TMP/keys"

# asciinema cat opens /dev/tty: give it one with script(1), and its stdout to a file.
asciinema_cat() {
  script -qec "asciinema cat '$1' > '$2'" /dev/null </dev/null >/dev/null
}

# record NAME [tool options] -- COMMAND...: records, verifies, replays and compares.
record() {
  local name=$1
  shift
  "$TOOL" record --keys "$KEYS" --out "$TMP/$name.skr" --raw "$TMP/$name.raw" "$@" \
    >"$TMP/$name.log" </dev/null || fail "$name: recording failed: $(cat "$TMP/$name.log")"
  [ -s "$TMP/$name.raw" ] || fail "$name: the command printed nothing"
  "$TOOL" verify "$TMP/$name.skr" --pub "$KEYS/signing.pub" >"$TMP/$name.verify" ||
    fail "$name: verify: $(cat "$TMP/$name.verify")"
  "$TOOL" cat --keys "$KEYS" "$TMP/$name.skr" >"$TMP/$name.replay" || fail "$name: replay failed"
  cmp -s "$TMP/$name.raw" "$TMP/$name.replay" || fail "$name: replayed bytes differ"
  "$TOOL" export --keys "$KEYS" "$TMP/$name.skr" >"$TMP/$name.cast" || fail "$name: export failed"
  python3 -c 'import json,sys
lines=open(sys.argv[1],encoding="utf-8",newline="").read().rstrip("\n").split("\n")
assert json.loads(lines[0])["version"]==2
for l in lines[1:]:
    e=json.loads(l); assert e[1] in "oirm" and isinstance(e[0],float)' "$TMP/$name.cast" ||
    fail "$name: the export is not asciicast v2"
  asciinema_cat "$TMP/$name.cast" "$TMP/$name.acat" || fail "$name: asciinema cat failed"
  pass "$name: $(wc -c <"$TMP/$name.raw") bytes recorded in $(wc -c <"$TMP/$name.skr"), verified, replayed"
}

record ls -- ls --color=always /
cmp -s "$TMP/ls.raw" "$TMP/ls.acat" || fail "ls: asciinema cat differs from the recorded output"
"$TOOL" search --keys "$KEYS" "$TMP/ls.skr" usr | grep -q shown || fail "ls: search for usr"
pass "ls: asciinema cat reproduces the output; search finds 'usr'"

record top -- top -b -n1
cmp -s "$TMP/top.raw" "$TMP/top.acat" || fail "top: asciinema cat differs from the recorded output"
pass "top: asciinema cat reproduces the output"

if command -v vim >/dev/null; then
  record vim --input '\e:q!\r' --resize 100x30 -- vim -u NONE -N /etc/hostname
  grep -q '"r", "100x30"' "$TMP/vim.cast" || fail "vim: resize missing from the export"
  grep -q '"i", ' "$TMP/vim.cast" || fail "vim: input missing from the export"
  "$TOOL" search --keys "$KEYS" "$TMP/vim.skr" ':q!' | grep -q typed || fail "vim: typed :q! not found"
  editor=vim
else
  record less --input 'q' -- less -X /etc/os-release
  editor=less
fi
cmp -s "$TMP/$editor.raw" "$TMP/$editor.acat" || fail "$editor: asciinema cat differs"
pass "$editor: asciinema cat reproduces the output, with input and resize events"

# Binary output is kept raw: no loss, no growth beyond framing (JSON would grow it up to 6x).
record urandom -- head -c 1M /dev/urandom
raw=$(wc -c <"$TMP/urandom.raw")
skr=$(wc -c <"$TMP/urandom.skr")
[ "$skr" -lt $((raw + raw / 50 + 4096)) ] || fail "urandom: $raw bytes became $skr"
[ -s "$TMP/urandom.acat" ] || fail "urandom: asciinema cat printed nothing"
pass "urandom: $raw bytes stored in $skr, asciinema reads the (replaced) export"
