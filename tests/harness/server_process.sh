# Process helpers sourced by the server harnesses (slapd.sh, samba_ad.sh, sshd_host.sh).

# live PID: the process exists and is not a zombie; bash builtins only (the watchers below run
# for a whole test, beside benchmarks: no grep per look).
live() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }  # the state follows the command name, which may hold spaces and ')'
  [ "${stat:0:1}" != Z ]
}

# With HARNESS_OWNER_PID set, a detached watcher stops the server (TERM) once the owner process
# is gone, so a test that crashes or is killed by a time-out leaves no server behind. The loop
# looks once a second and ends when either process ends; it holds none of the caller's
# descriptors.
watch_owner() {
  local server=$1 owner=${HARNESS_OWNER_PID:-}
  [ -n "$owner" ] || return 0
  (
    while live "$server"; do
      if ! live "$owner"; then
        kill -TERM "$server" 2>/dev/null || true
        break
      fi
      sleep 1
    done
  ) </dev/null >/dev/null 2>&1 &
  disown 2>/dev/null || true
}

# stop_pid PID TRIES: TERM, then waits up to TRIES × 20 ms (a zombie counts as gone), then KILL.
stop_pid() {
  local pid=$1 tries=$2 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 "$tries"); do
    live "$pid" || return 0
    sleep 0.02
  done
  kill -KILL "$pid" 2>/dev/null || true
}
