#!/usr/bin/env bash
# scripts/run.sh, the README's first command: it builds all three programs into BUILD/bin,
# initialises a data dir once and leaves a gateway answering /v1/health; the CLI login command it
# prints (the README's next step) works as printed, on a terminal, with the one-time password.
source "$(dirname "$0")/../harness/lib.sh"
: "${SEKISHO_SOURCE_DIR:?}" "${SEKISHO_BUILD_DIR:?}"
# A run.sh stopped while it still builds (a failed wait) must not leave its cmake building in the
# shared build dir, where a later build would race it: its descendants are stopped by PID first.
stop_run_sh_trees() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    # shellcheck disable=SC2046  # one PID per word
    kill -TERM $(descendant_pids "$pid") 2>/dev/null || true
  done
  cleanup
}
trap stop_run_sh_trees EXIT

write_config "$TMP/c.toml"
# ctest has built everything already, so what run.sh asks cmake to build is seen through a cmake on
# PATH that notes its arguments and runs the real one.
real_cmake=$(command -v cmake)
mkdir "$TMP/path"
cat >"$TMP/path/cmake" <<SH
#!/bin/sh
printf '%s\n' "\$*" >>"$TMP/cmake.calls"
exec "$real_cmake" "\$@"
SH
chmod +x "$TMP/path/cmake"
run_once() {
  PATH="$TMP/path:$PATH" SEKISHO_DATA_DIR="$TMP/var" SEKISHO_CONFIG="$TMP/c.toml" \
    SEKISHO_BUILD_DIR="$SEKISHO_BUILD_DIR" bash "$SEKISHO_SOURCE_DIR/scripts/run.sh" \
    >"$TMP/run-$1.log" 2>&1 &
  GW_PID=$!
  STARTED_PIDS+=("$GW_PID")
  GW_LOG="$TMP/run-$1.log"
  wait_for_listen "$GW_LOG" "$GW_PID" 600
}

run_once 1
grep -q "one-time password" "$TMP/run-1.log" || fail "first run did not initialise and show the login"
grep -q '"status":"ok"' <<<"$(health "$TMP/var")" || fail "gateway from run.sh does not answer"
build_call=$(grep -- '--build' "$TMP/cmake.calls" || true)
for program in sekishod sekisho sekisho-worker; do
  grep -qE -- "--target( [a-z-]+)* $program( |$)" <<<"$build_call" ||
    fail "run.sh does not build $program: cmake $build_call"
  [ -x "$SEKISHO_BUILD_DIR/bin/$program" ] || fail "run.sh left no $SEKISHO_BUILD_DIR/bin/$program"
done
pass "run.sh initialises, serves, and built sekishod, sekisho and sekisho-worker into BUILD/bin"

# The login command as run.sh prints it (the README's: build/bin/sekisho login --user admin, here
# with the test's build dir), typed on a terminal (tty_answer.py) that answers its prompts with the
# one-time password and the new one twice. The passwords never reach a command line or an output.
login_cmd=$(sed -n 's/^from another terminal: //p' "$TMP/run-1.log")
[ "$login_cmd" = "$SEKISHO_BUILD_DIR/bin/sekisho login --user admin" ] ||
  fail "run.sh names no usable login command: '$login_cmd'"
grep -qF 'build/bin/sekisho login --user admin' "$SEKISHO_SOURCE_DIR/README.md" ||
  fail "the README does not name the command run.sh prints"
otp=$(awk '/^ *one-time password:/ { print $3 }' "$TMP/run-1.log")
[ -n "$otp" ] || fail "run.sh printed no one-time password line"
new_pw="first-run-Password-$RANDOM$RANDOM"
read -r -a login_argv <<<"$login_cmd"
printf '%s\n%s\n%s\n' "$otp" "$new_pw" "$new_pw" |
  SEKISHO_HOME="$TMP/home" SEKISHO_SERVER="https://127.0.0.1:$GW_PORT" \
    python3 "$(dirname "$0")/../harness/tty_answer.py" 30 "${login_argv[@]}" \
    >"$TMP/login.out" 2>&1 ||
  fail "the printed login command failed: $(tail -3 "$TMP/login.out")"
grep -q "logged in to https://127.0.0.1:$GW_PORT as admin" "$TMP/login.out" ||
  fail "login said: $(tail -3 "$TMP/login.out")"
SEKISHO_HOME="$TMP/home" "$SEKISHO_BUILD_DIR/bin/sekisho" whoami >"$TMP/whoami.out" ||
  fail "whoami after the login: $(cat "$TMP/whoami.out")"
grep -qE '^user +admin$' "$TMP/whoami.out" || fail "whoami: $(cat "$TMP/whoami.out")"
sed -n '/^Starting sekishod/,$p' "$TMP/run-1.log" >"$TMP/after-banner.log"
! grep -qF -e "$otp" -e "$new_pw" "$TMP/login.out" "$TMP/after-banner.log" ||
  fail "a password reached the terminal or the gateway's log"
pass "the login command run.sh prints logs the operator in on a terminal (one-time, new password)"
stop_gateway TERM # run.sh execs sekishod, so its PID is the gateway's
[ "$GW_RC" -eq 0 ] || fail "gateway exited $GW_RC"

run_once 2
grep -q "one-time password" "$TMP/run-2.log" && fail "second run initialised again"
grep -q '"status":"ok"' <<<"$(health "$TMP/var")" || fail "second run does not answer"
stop_gateway TERM
pass "run.sh initialises once and serves"
