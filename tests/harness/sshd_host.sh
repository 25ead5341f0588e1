#!/bin/bash
# sshd_host.sh — one target "host" for tests: a real OpenSSH sshd on 127.0.0.1:<free port> in
# its own mount (and UTS) namespace, with its own /etc as an overlay of the machine's /etc, so that
# useradd/chpasswd inside it never touch the real machine. /run and /var/log are overlaid too
# (sshd writes utmp/wtmp/btmp, PAM writes /run/motd.dynamic). Needs root.
#
#   sshd_host.sh start DIR NAME [USER...]
#       Creates DIR if needed (the host's own temp dir: host keys, config, overlay upper/work
#       dirs, log), creates the accounts USER... (useradd, home under DIR/home) inside the host,
#       sets its host name to NAME, starts sshd and prints "PORT PID" on stdout once sshd
#       listens (bounded wait, 10 s). PID is the sshd itself (unshare and the setup shell exec
#       into it): stop it by that PID. Also writes DIR/port, DIR/pid; sshd's log is DIR/sshd.log.
#       Host keys: DIR/ssh_host_{ed25519,ecdsa}_key(.pub); set SSHD_HOST_KEY_TYPES to change
#       the list (e.g. "ed25519 ecdsa rsa"). SSHD_HOST_EXTRA_CONFIG: sshd_config lines that take
#       precedence over the defaults (e.g. "MaxStartups 1200"). SSHD_HOST_PORT: listen on this
#       port instead of a free one (a restart on the same DIR keeps the address the gateway
#       registered; the overlays keep the host's /etc). DIR is made 0711; its parents
#       must be traversable (o+x) by the accounts for key logins (sshd reads authorized_keys as
#       the user).
#       With HARNESS_OWNER_PID=PID (lib.sh sets the test's own), a detached watcher TERMs sshd
#       once process PID has gone.
#   sshd_host.sh passwd DIR USER          (new password on stdin, one line; never an argument)
#       Runs chpasswd inside the running host's mount namespace (nsenter on its PID).
#   sshd_host.sh authorize DIR USER       (OpenSSH public key line(s) on stdin)
#       Appends to DIR/authorized_keys/USER, the host's absolute AuthorizedKeysFile.
#   sshd_host.sh exec DIR CMD [ARG...]
#       Runs CMD inside the host's mount namespace (to inspect its /etc, e.g. /etc/shadow).
#   sshd_host.sh stop DIR
#       SIGTERM to the PID in DIR/pid (after checking it is this host's sshd), waits up to 5 s
#       (a zombie counts as gone), then SIGKILL. Idempotent.
#
# Every wait is bounded; only 127.0.0.1 is used; passwords never reach argv or the output.
set -euo pipefail

die() {
  echo "sshd_host.sh: $*" >&2
  exit 1
}

SSHD=/usr/sbin/sshd
SELF=$(readlink -f "$0")
# shellcheck source=server_process.sh
source "$(dirname "$SELF")/server_process.sh"  # live, watch_owner

# host_pid DIR: the PID of DIR's running sshd, or nothing. Checks the command line so that a
# recycled PID is never signalled.
host_pid() {
  local dir=$1 pid
  [ -f "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  live "$pid" || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-f $dir/sshd_config" || return 0
  echo "$pid"
}

# free_port: a port the kernel hands out for 127.0.0.1:0 (Debian's own python3: a pyenv shim
# costs a second per call), else a random one; a lost race is retried by cmd_start.
free_port() {
  if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}

# overlay TARGET NAME: an overlay over TARGET whose writes land in DIR/NAME-upper.
overlay() {
  mkdir -p "$DIR/$2-upper" "$DIR/$2-work"
  mount -n -t overlay "sekisho-$2" \
    -o "lowerdir=$1,upperdir=$DIR/$2-upper,workdir=$DIR/$2-work" "$1"
}

# inner DIR NAME USER...: runs inside the new namespaces; ends by exec'ing sshd.
inner() {
  DIR=$1 NAME=$2
  shift 2
  overlay /run run
  overlay /etc etc
  overlay /var/log varlog
  hostname "$NAME"
  mkdir -p /run/sshd
  chmod 0755 /run/sshd
  # PAM waits 2 s after a wrong password unless pam_unix has nodelay.
  if ! grep -qE 'pam_unix\.so.*nodelay' /etc/pam.d/common-auth; then
    sed -i -E 's/^(auth.*pam_unix\.so.*)$/\1 nodelay/' /etc/pam.d/common-auth
  fi
  # pam_systemd would register every test login with the machine's logind (where systemd runs,
  # as on a fresh CI machine): the accounts exist only in this overlay, and a burst of logins
  # then waits on logind. A test host keeps its sessions to itself.
  sed -i -E '/pam_systemd\.so/d' /etc/pam.d/common-session /etc/pam.d/common-session-noninteractive 2>/dev/null || true
  local user
  for user in "$@"; do
    if ! id -u "$user" >/dev/null 2>&1; then
      mkdir -p "$DIR/home"
      # -l: no lastlog/faillog entries (those live in /var/log; overlaid anyway).
      useradd -l -M -d "$DIR/home/$user" -s /bin/bash "$user"
      mkdir -p "$DIR/home/$user"
      chown "$user:" "$DIR/home/$user"
    fi
  done
  exec "$SSHD" -D -e -f "$DIR/sshd_config"
}

write_config() {
  local dir=$1 port=$2 t
  {
    # sshd keeps the first value of a keyword: extra lines go first so that they override.
    [ -z "${SSHD_HOST_EXTRA_CONFIG:-}" ] || printf '%s\n' "$SSHD_HOST_EXTRA_CONFIG"
    echo "ListenAddress 127.0.0.1"
    echo "Port $port"
    for t in $KEY_TYPES; do echo "HostKey $dir/ssh_host_${t}_key"; done
    echo "PidFile none"
    echo "StrictModes no"
    echo "AuthorizedKeysFile $dir/authorized_keys/%u"
    echo "UsePAM yes"
    echo "PasswordAuthentication yes"
    echo "KbdInteractiveAuthentication yes"
    echo "PubkeyAuthentication yes"
    echo "PermitRootLogin yes"
    echo "UseDNS no"
    echo "PrintMotd no"
    echo "PrintLastLog no"
    echo "MaxStartups 50:30:100"
    echo "Subsystem sftp /usr/lib/openssh/sftp-server"
  } >"$dir/sshd_config"
}

cmd_start() {
  [ $# -ge 2 ] || die "usage: start DIR NAME [USER...]"
  local dir name
  mkdir -p "$1"
  dir=$(readlink -f "$1")
  name=$2
  shift 2
  [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$ ]] || die "bad host name '$name'"
  [ -z "$(host_pid "$dir")" ] || die "a host is already running in $dir"
  KEY_TYPES=${SSHD_HOST_KEY_TYPES:-ed25519 ecdsa}
  local t
  for t in $KEY_TYPES; do
    [ -f "$dir/ssh_host_${t}_key" ] ||
      ssh-keygen -q -t "$t" -N '' -C "host-$name" -f "$dir/ssh_host_${t}_key" </dev/null
  done
  # sshd reads authorized_keys as the user, and users need their homes: DIR must be traversable
  # (its parents too; the caller owns those).
  chmod 0711 "$dir"
  mkdir -p "$dir/authorized_keys"

  # A free port can be taken between probing and binding: retry a few times with a new one.
  local port pid
  [ -z "${SSHD_HOST_PORT:-}" ] || [[ "$SSHD_HOST_PORT" =~ ^[1-9][0-9]{0,4}$ ]] ||
    die "bad SSHD_HOST_PORT '$SSHD_HOST_PORT'"
  for _ in 1 2 3 4 5; do
    port=${SSHD_HOST_PORT:-$(free_port)}
    write_config "$dir" "$port"
    : >"$dir/sshd.log"
    unshare --mount --uts --propagation private \
      bash "$SELF" _inner "$dir" "$name" "$@" </dev/null >>"$dir/sshd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pid"
    for _ in $(seq 1 200); do
      if grep -qF "Server listening on 127.0.0.1 port $port" "$dir/sshd.log"; then
        echo "$port" >"$dir/port"
        # sshd outlives this script (it is nobody's child once we exit): with HARNESS_OWNER_PID
        # (lib.sh exports the test's PID) a watcher stops it once the test is gone, also when a
        # time-out killed the test before its cleanup ran.
        watch_owner "$pid"
        echo "$port $pid"
        return 0
      fi
      live "$pid" || break
      sleep 0.05
    done
    if live "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      die "sshd did not listen within 10 s: $(tail -n 3 "$dir/sshd.log" | tr '\n' ' ')"
    fi
    grep -qE "Bind to port|Cannot bind" "$dir/sshd.log" ||
      die "host setup failed: $(tail -n 3 "$dir/sshd.log" | tr '\n' ' ')"
  done
  die "no free port after 5 attempts"
}

cmd_stop() {
  [ $# -eq 1 ] || die "usage: stop DIR"
  local dir pid
  dir=$(readlink -f "$1")
  pid=$(host_pid "$dir")
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    live "$pid" || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    live "$pid" || return 0
    sleep 0.05
  done
  die "sshd $pid did not stop"
}

running_pid() {
  local pid
  pid=$(host_pid "$(readlink -f "$1")")
  [ -n "$pid" ] || die "no host running in $1"
  echo "$pid"
}

cmd_passwd() {
  [ $# -eq 2 ] || die "usage: passwd DIR USER (password on stdin)"
  local pid password
  pid=$(running_pid "$1")
  [[ "$2" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "bad user name '$2'"
  IFS= read -r password || [ -n "$password" ] || die "no password on stdin"
  [ -n "$password" ] || die "empty password"
  case $password in *:*) die "a password for chpasswd cannot contain ':'" ;; esac
  printf '%s:%s\n' "$2" "$password" | nsenter --target "$pid" --mount chpasswd
}

cmd_authorize() {
  [ $# -eq 2 ] || die "usage: authorize DIR USER (public key on stdin)"
  [[ "$2" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "bad user name '$2'"
  local dir
  dir=$(readlink -f "$1")
  mkdir -p "$dir/authorized_keys"
  cat >>"$dir/authorized_keys/$2"
}

cmd_exec() {
  [ $# -ge 2 ] || die "usage: exec DIR CMD [ARG...]"
  local pid
  pid=$(running_pid "$1")
  shift
  exec nsenter --target "$pid" --mount --uts -- "$@"
}

[ $# -ge 1 ] || die "usage: sshd_host.sh start|stop|passwd|authorize|exec DIR ..."
command=$1
shift
case $command in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  passwd) cmd_passwd "$@" ;;
  authorize) cmd_authorize "$@" ;;
  exec) cmd_exec "$@" ;;
  _inner) inner "$@" ;;
  *) die "unknown command '$command'" ;;
esac
