#!/bin/bash
# A real Active Directory domain controller (Samba 4) for tests, on a spare loopback address.
#
#   samba_ad.sh template TDIR
#       Provisions a domain once (slow: several seconds) into TDIR: realm SEKISHO.TEST, domain
#       SEKISHO, dns-backend NONE, every pid/lock/state/cache/private/socket/log dir inside TDIR,
#       services "ldap" only. Offline, with samba-tool on TDIR's sam.ldb, it relaxes the password
#       policy and adds:
#         svc-sekisho  (the service account the gateway searches with)
#         adalice      UPN adalice@sekisho.test, member of group pam-approvers
#         adbob        sAMAccountName login, member of pam-requesters
#         addisabled   disabled (userAccountControl bit 2), member of pam-approvers
#         svc-backup   a domain service account the gateway rotates; the Password Settings Object
#                      "svc-strict" gives it a minimum length of 12 (the domain's stays relaxed)
#         adrotate     member of Account Operators: may reset svc-backup's password (reconcile)
#       A throwaway CA and a server certificate with IP SANs 127.10.0.1..127.10.0.9 replace
#       Samba's self-signed one (whose SAN names only the host name, so verification by IP fails).
#   samba_ad.sh start TDIR DIR [IP]
#       Copies TDIR to DIR (DIR must not exist), rewrites the paths, starts
#       `samba -i -M single` bound to IP (default 127.10.0.1; ports 389 and 636 are fixed), waits
#       (bounded) until LDAPS answers and writes DIR/env (also on stdout):
#         SAMBA_PID SAMBA_IP SAMBA_URL SAMBA_CA SAMBA_BASE SAMBA_REALM SAMBA_BIND_DN
#         SAMBA_BIND_PW_FILE SAMBA_START_MS
#       With HARNESS_OWNER_PID=PID, a detached watcher TERMs samba once process PID has gone.
#   samba_ad.sh stop DIR
#       Stops the samba started for DIR by its PID (TERM, bounded wait, KILL).
#
# Only loopback is used. The test passwords are fixed test values kept in 0600 files and never
# printed. Exit 0 on success, 1 with one line on stderr otherwise.
set -euo pipefail
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

REALM=SEKISHO.TEST
DOMAIN=SEKISHO
BASE="DC=sekisho,DC=test"
SVC_PW="Svc-Passw0rd-ad1"
ALICE_PW="Alice-Passw0rd-ad2"
BOB_PW="Bob-Passw0rd-ad3"
DISABLED_PW="Dis-Passw0rd-ad4"
BACKUP_PW="Backup-Passw0rd-ad5"
ROTATE_PW="Rotate-Passw0rd-ad6"

die() { echo "samba_ad.sh: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }

# smb.conf options that keep every file and socket of the DC inside $1.
dir_options() {
  local d=$1
  printf '%s\n' \
    "--option=interfaces=127.10.0.1/8" \
    "--option=bind interfaces only=yes" \
    "--option=server services=ldap" \
    "--option=dcerpc endpoint servers=" \
    "--option=pid directory=$d/run" \
    "--option=lock directory=$d/lock" \
    "--option=state directory=$d/state" \
    "--option=cache directory=$d/cache" \
    "--option=private dir=$d/private" \
    "--option=binddns dir=$d/bind-dns" \
    "--option=ncalrpc dir=$d/run/ncalrpc" \
    "--option=winbindd socket directory=$d/run/winbindd" \
    "--option=ntp signd socket directory=$d/run/ntp_signd" \
    "--option=log file=$d/log/samba.log" \
    "--option=tls enabled=yes" \
    "--option=tls keyfile=$d/tls/server.key" \
    "--option=tls certfile=$d/tls/server.pem" \
    "--option=tls cafile=$d/tls/ca.pem"
}

make_certs() {
  local d=$1/tls
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Sekisho Samba Test CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=dc1.sekisho.test" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  local sans="DNS:dc1.sekisho.test" i
  for i in 1 2 3 4 5 6 7 8 9; do sans="$sans,IP:127.10.0.$i"; done
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$sans" \
    >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  chmod 0600 "$d"/*.key
}

template() {
  local d=$1 t0
  [ -n "$d" ] || die "usage: samba_ad.sh template TDIR"
  mkdir -p "$d"
  d=$(cd "$d" && pwd)
  [ -z "$(ls -A "$d")" ] || die "$d is not empty"
  t0=$(now_ms)
  mkdir -p "$d/run" "$d/lock" "$d/state" "$d/cache" "$d/private" "$d/bind-dns" "$d/log" "$d/etc"
  make_certs "$d"
  : >"$d/empty.conf"
  local opts=()
  mapfile -t opts < <(dir_options "$d")
  # The administrator password is random and unused afterwards.
  samba-tool domain provision -s "$d/empty.conf" --targetdir="$d" --realm="$REALM" \
    --domain="$DOMAIN" --server-role=dc --dns-backend=NONE --host-ip=127.10.0.1 \
    --host-name=dc1 --adminpass="A1-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" \
    "${opts[@]}" >"$d/log/provision.log" 2>&1 \
    || die "provision failed: $(tail -n1 "$d/log/provision.log")"
  local provision_ms=$(( $(now_ms) - t0 ))
  local conf="$d/etc/smb.conf" sam="$d/private/sam.ldb" log="$d/log/setup.log"
  {
    samba-tool domain passwordsettings set -s "$conf" -H "$sam" --complexity=off \
      --min-pwd-length=1 --history-length=0 --min-pwd-age=0 --max-pwd-age=0
    samba-tool user add svc-sekisho "$SVC_PW" -s "$conf" -H "$sam"
    samba-tool user add adalice "$ALICE_PW" -s "$conf" -H "$sam" \
      --userou=CN=Users --given-name=Alice --surname=Ad
    samba-tool user add adbob "$BOB_PW" -s "$conf" -H "$sam"
    samba-tool user add addisabled "$DISABLED_PW" -s "$conf" -H "$sam"
    samba-tool user disable addisabled -s "$conf" -H "$sam"
    samba-tool group add pam-approvers -s "$conf" -H "$sam"
    samba-tool group add pam-requesters -s "$conf" -H "$sam"
    samba-tool group addmembers pam-approvers adalice,addisabled -s "$conf" -H "$sam"
    samba-tool group addmembers pam-requesters adbob,adalice -s "$conf" -H "$sam"
    samba-tool user add svc-backup "$BACKUP_PW" -s "$conf" -H "$sam"
    samba-tool user add adrotate "$ROTATE_PW" -s "$conf" -H "$sam"
    samba-tool group addmembers "Account Operators" adrotate -s "$conf" -H "$sam"
    samba-tool domain passwordsettings pso create svc-strict 1 --min-pwd-length=12 \
      --complexity=off --history-length=0 --min-pwd-age=0 --max-pwd-age=0 -s "$conf" -H "$sam"
    samba-tool domain passwordsettings pso apply svc-strict svc-backup -s "$conf" -H "$sam"
  } >"$log" 2>&1 || die "user setup failed: $(tail -n1 "$log")"
  (umask 077; printf '%s\n' "$SVC_PW" >"$d/bind.pw")
  echo "SAMBA_PROVISION_MS=$provision_ms"
  echo "SAMBA_TEMPLATE_MS=$(( $(now_ms) - t0 ))"
}

source "$HARNESS_DIR/server_process.sh"  # watch_owner, stop_pid

start() {
  local t=$1 d=$2 ip=${3:-127.10.0.1} t0 pid i up=0
  [ -n "$t" ] && [ -n "$d" ] || die "usage: samba_ad.sh start TDIR DIR [IP]"
  t=$(cd "$t" && pwd)
  [ ! -e "$d" ] || die "$d exists"
  t0=$(now_ms)
  cp -a "$t" "$d"
  d=$(cd "$d" && pwd)
  sed -i "s|$t|$d|g; s|127\\.10\\.0\\.1/8|$ip/8|" "$d/etc/smb.conf"
  rm -f "$d"/run/*.pid
  samba -i -M single -s "$d/etc/smb.conf" >"$d/log/samba.out" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$d/samba.pid.harness"
  watch_owner "$pid"
  for i in $(seq 1 500); do
    if ! [ -d "/proc/$pid" ] || grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then break; fi
    if LDAPTLS_CACERT="$d/tls/ca.pem" ldapsearch -x -LLL -H "ldaps://$ip" -b "" -s base \
         -o nettimeout=1 defaultNamingContext >/dev/null 2>&1; then
      up=1; break
    fi
    sleep 0.02
  done
  if [ "$up" -ne 1 ]; then
    kill -KILL "$pid" 2>/dev/null || true
    die "samba did not start: $(tail -n1 "$d/log/samba.out")"
  fi
  cat >"$d/env" <<ENV
SAMBA_DIR=$d
SAMBA_PID=$pid
SAMBA_IP=$ip
SAMBA_URL=ldaps://$ip
SAMBA_CA=$d/tls/ca.pem
SAMBA_BASE=$BASE
SAMBA_REALM=$REALM
SAMBA_BIND_DN=CN=svc-sekisho,CN=Users,$BASE
SAMBA_BIND_PW_FILE=$d/bind.pw
SAMBA_START_MS=$(( $(now_ms) - t0 ))
ENV
  cat "$d/env"
}

stop() {
  local d=$1
  [ -n "$d" ] && [ -f "$d/samba.pid.harness" ] || die "usage: samba_ad.sh stop DIR (no pid file)"
  stop_pid "$(cat "$d/samba.pid.harness")" 250
}

case "${1:-}" in
  template) template "${2:-}" ;;
  start) start "${2:-}" "${3:-}" "${4:-}" ;;
  stop) stop "${2:-}" ;;
  *) die "usage: samba_ad.sh template TDIR | start TDIR DIR [IP] | stop DIR" ;;
esac
