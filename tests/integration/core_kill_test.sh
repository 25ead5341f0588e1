#!/usr/bin/env bash
# A gateway crash never strands a session: with real parts (sekishod, an sshd host, the OpenSSH
# client), an interactive session and a download run when sekishod is killed with SIGKILL at a
# random moment, then started again. After each restart: no session is open; each one of that
# round ended as `incomplete` "gateway stopped" (or closed, if it finished first) with
# session.end audited with its recording hash; every recording verifies with the gateway's public
# key (`sekisho verify`, which says the session was cut by a gateway stop) and replays to its last
# sealed byte (export + the real `asciinema cat`); no worker of the killed run is left (bounded
# wait, by the worker pids the log named); `sekishod audit verify` passes.
# SEKISHO_KILL_LOOPS rounds (default 3), a download of SEKISHO_KILL_MIB MiB (default 20).
source "$(dirname "$0")/../harness/lib.sh"
harness="$(dirname "$0")/../harness"
loops=${SEKISHO_KILL_LOOPS:-3}
mib=${SEKISHO_KILL_MIB:-20}

dir="$TMP/var"
init_data_dir "$dir"
# Fixed ports: the restarted gateway is the same server for the CLI's pin and the client's
# known_hosts.
api_port=$(free_port)
ssh_port=$(free_port)
write_ssh_config "$TMP/c.toml"
sed -i "s/^listen = \"127.0.0.1:0\"$/listen = \"127.0.0.1:PORT\"/" "$TMP/c.toml"
awk -v a="$api_port" -v s="$ssh_port" '/^listen = "127.0.0.1:PORT"$/ { n++; sub("PORT", n == 1 ? a : s) } { print }' \
  "$TMP/c.toml" >"$TMP/c2.toml"
printf '[audit]\ncheckpoint_interval = "1s"\n' >>"$TMP/c2.toml"
grep -q "127.0.0.1:$api_port" "$TMP/c2.toml" && grep -q "127.0.0.1:$ssh_port" "$TMP/c2.toml" ||
  fail "config: $(cat "$TMP/c2.toml")"
start_ssh_gateway "$dir" "$TMP/c2.toml"

mkdir -p "$TMP/web01"
read -r _ web_pid < <(bash "$harness/sshd_host.sh" start "$TMP/web01" web01)
STARTED_PIDS+=("$web_pid")
ssh_granted_session "$dir" "$TMP/web01" web01

gw_ssh() {
  timeout 60 ssh "${GW_SSH_OPTS[@]}" -p "$SSH_PORT" -i "$TMP/alice.key" \
    -o ServerAliveInterval=2 -o ServerAliveCountMax=3 "$@"
}
open_ids() { sql "$dir" "SELECT id FROM sessions WHERE ended_at IS NULL ORDER BY id;"; }
# alive PID: the process exists and is not a zombie (a zombie holds no file and writes nothing).
alive() { [ -e "/proc/$1/stat" ] && ! awk '{ exit ($3 == "Z") ? 0 : 1 }' "/proc/$1/stat" 2>/dev/null; }

for round in $(seq 1 "$loops"); do
  log_lines=$(wc -l <"$GW_LOG")
  gw_ssh -tt root@web01@127.0.0.1 'for i in $(seq 1 100000); do echo tick-$i; sleep 0.02; done' \
    >"$TMP/tty-$round.out" 2>&1 </dev/null &
  tty_pid=$!
  STARTED_PIDS+=("$tty_pid")
  # The download is paced on the target (256 KiB per 50 ms at most, so 20 MiB take 4 s or more):
  # the kill comes within a second of both sessions being open, in the middle of it.
  gw_ssh root@web01@127.0.0.1 "for i in \$(seq 1 $((mib * 4))); do head -c 256K /dev/urandom; sleep 0.05; done" \
    >"$TMP/dl.out" 2>"$TMP/dl.err" </dev/null &
  dl_pid=$!
  STARTED_PIDS+=("$dl_pid")
  for _ in $(seq 1 150); do
    [ "$(open_ids | wc -l)" -ge 2 ] && grep -qa tick-3 "$TMP/tty-$round.out" && break
    sleep 0.1
  done
  mapfile -t ids < <(open_ids)
  [ "${#ids[@]}" -eq 2 ] || fail "round $round: ${#ids[@]} open sessions, wanted 2: $(tail -5 "$GW_LOG")"
  mapfile -t workers < <(tail -n +"$((log_lines + 1))" "$GW_LOG" | grep -o 'ssh connection from [^ ]*: worker [0-9]*' | grep -o '[0-9]*$')
  [ "${#workers[@]}" -ge 2 ] || fail "round $round: the log names ${#workers[@]} workers"
  sleep "0.$((RANDOM % 10))"  # a random moment in the sessions
  stop_gateway KILL

  start_ssh_gateway "$dir" "$TMP/c2.toml"
  [ -z "$(open_ids)" ] || fail "round $round: sessions still open after the restart: $(open_ids)"
  for pid in "${workers[@]}"; do
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    ! alive "$pid" || fail "round $round: worker $pid of the killed gateway is still running"
  done
  wait "$tty_pid" 2>/dev/null || true
  wait "$dl_pid" 2>/dev/null || true

  sealed_count=0
  for sid in "${ids[@]}"; do
    IFS='|' read -r state reason hash < <(sql "$dir" "SELECT state, end_reason, recording_hash FROM (SELECT CASE WHEN recording_hash IS NULL OR recording_sealed = 1 THEN 'incomplete' ELSE 'closed' END AS state, replace(end_reason, ' ', '_') AS end_reason, recording_hash FROM sessions WHERE id = '$sid');")
    [ -n "$hash" ] || fail "round $round: session $sid has no recording hash ($state, $reason)"
    case "$state:$reason" in
      incomplete:gateway_stopped*) sealed=1 sealed_count=$((sealed_count + 1)) ;;
      closed:*) sealed=0 ;;
      *) fail "round $round: session $sid ended $state: $reason" ;;
    esac
    [ "$(sql "$dir" "SELECT count(*) FROM audit_events WHERE action = 'session.end' AND details LIKE '%$sid%' AND details LIKE '%$hash%';")" -eq 1 ] ||
      fail "round $round: no session.end with the recording hash of $sid"
    cli_as audrey export "$sid" --format skr --out "$TMP/$sid.skr" >/dev/null || fail "export skr $sid"
    env -u SEKISHO_SERVER SEKISHO_HOME="$TMP/nobody" "$SEKISHO_CLI" verify "$TMP/$sid.skr" \
      --public-key "$dir/signing.pub" >"$TMP/v.out" 2>&1 || fail "round $round: verify $sid: $(cat "$TMP/v.out")"
    grep -qE '^result +OK$' "$TMP/v.out" || fail "verify report: $(cat "$TMP/v.out")"
    if [ "$sealed" = 1 ]; then
      grep -q "^session cut by a gateway stop at .*; the file is exactly what the gateway recorded" "$TMP/v.out" ||
        fail "round $round: verify of sealed $sid does not say so: $(cat "$TMP/v.out")"
    fi
    # Replays to its last sealed byte: every chunk decodes into the export.
    cli_as audrey export "$sid" --format asciicast --out "$TMP/$sid.cast" >/dev/null || fail "export asciicast $sid"
    rm -f "$TMP/$sid.skr"
  done
  # The interactive session never ends by itself: at least it was cut and sealed.
  [ "$sealed_count" -ge 1 ] || fail "round $round: no session was sealed"
  # The interactive session: the real asciinema shows what was recorded up to the cut.
  tty_sid=
  for sid in "${ids[@]}"; do grep -qa tick-1 "$TMP/$sid.cast" && tty_sid=$sid; done
  [ -n "$tty_sid" ] || fail "round $round: no export holds the ticks"
  script -q -e -c "asciinema cat '$TMP/$tty_sid.cast'" "$TMP/cat.out" </dev/null >/dev/null ||
    fail "round $round: asciinema cat refused the export"
  grep -qa tick-3 "$TMP/cat.out" || fail "round $round: asciinema cat lacks the ticks"
  rm -f "$TMP"/*.cast "$TMP/dl.out"
  "$SEKISHOD" audit verify --data-dir "$dir" >"$TMP/audit.out" 2>&1 || fail "round $round: audit verify: $(cat "$TMP/audit.out")"
  killed=$(grep -c "still held its recording; killed" "$GW_LOG" || true)
  pass "round $round: sekishod killed mid-session; after the restart no session open, both recordings verify and replay, no worker left ($killed killed by the seal), audit chain verifies"
done
