#!/bin/bash
# A throwaway OpenLDAP slapd for tests, with TLS, memberof, refint and ppolicy.
#
#   slapd.sh start DIR   creates DIR (must not exist or be empty), a CA and a server certificate
#                        (IP SAN 127.0.0.1), a second unrelated CA (DIR/other-ca.pem), a cn=config
#                        made with slapadd -n0, starts slapd on two free loopback ports, loads
#                        tests/data/ldap/people.ldif with ldapadd, locks erin (pwdAccountLockedTime)
#                        and writes DIR/env (shell assignments, also printed on stdout):
#                          SLAPD_PID SLAPD_PORT SLAPD_TLS_PORT SLAPD_URL SLAPD_LDAPS_URL
#                          SLAPD_CA SLAPD_OTHER_CA SLAPD_BASE SLAPD_BIND_DN SLAPD_BIND_PW_FILE
#                          SLAPD_LOG SLAPD_START_MS SLAPD_ROOT_DN SLAPD_ROOT_PW_FILE
#                          SLAPD_ROTATE_DN (may reset any userPassword: a reconcile account)
#                        slapd logs connections and operations (`-d stats`, no passwords) to
#                        DIR/slapd.log.
#   HARNESS_OWNER_PID=PID slapd.sh start DIR: as start, and a detached watcher TERMs slapd once
#                        process PID has gone (a crashed or timed-out test leaves no server).
#   slapd.sh stop DIR    stops the slapd whose PID is in DIR/slapd.pid (TERM, bounded wait, KILL).
#
# Everything lives in DIR; the caller removes it. Every wait is bounded. Exit 0 on success,
# 1 with one line on stderr otherwise.
set -euo pipefail

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA_DIR=$(cd "$HARNESS_DIR/../data/ldap" && pwd)
SUFFIX="dc=example,dc=com"
ROOT_DN="cn=admin,$SUFFIX"
BIND_DN="cn=sekisho-svc,ou=services,$SUFFIX"
BIND_PW="svc-Secret-7f3a"   # matches people.ldif; never printed
ROTATE_DN="cn=sekisho-rotate,ou=services,$SUFFIX"  # may reset userPassword (rotation tests)

die() { echo "slapd.sh: $*" >&2; exit 1; }

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# Two openssl runs for the CA and the server certificate (OpenSSL 3's `req -CA`), one for an
# unrelated CA: a client trusting only that one must refuse the server.
make_certs() {
  local d=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Sekisho Test CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -CA "$d/ca.pem" -CAkey "$d/ca.key" -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
    -addext "extendedKeyUsage=serverAuth" -keyout "$d/server.key" -out "$d/server.pem" 2>/dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Sekisho Other CA" -keyout "$d/other-ca.key" -out "$d/other-ca.pem" 2>/dev/null
  chmod 0600 "$d"/*.key
}

write_config() {
  local d=$1 root_hash
  # The root DN's password is random, kept in a 0600 file, and only used to load the data. It
  # stays in clear in slapd.d (inside the private temp dir): hashing it would cost a process.
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '\n' >"$d/root.pw")
  root_hash=$(cat "$d/root.pw")
  cat >"$d/config.ldif" <<CONF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $d/slapd.pid
olcArgsFile: $d/slapd.args
olcTLSCACertificateFile: $d/ca.pem
olcTLSCertificateFile: $d/server.pem
olcTLSCertificateKeyFile: $d/server.key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: refint
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/nis.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $SUFFIX
olcRootDN: $ROOT_DN
olcRootPW: $root_hash
olcDbDirectory: $d/db
olcDbMaxSize: 67108864
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcAccess: {0}to attrs=userPassword by self =xw by dn.exact="$ROTATE_DN" =w by anonymous auth
  by * none
olcAccess: {1}to * by dn.exact="$BIND_DN" read by self read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={1}refint,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {1}refint
olcRefintAttribute: member

dn: olcOverlay={2}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {2}ppolicy
olcPPolicyDefault: cn=default,ou=policies,$SUFFIX
olcPPolicyHashCleartext: TRUE
olcPPolicyUseLockout: TRUE
CONF
}

# A port nobody listens on now (slapd may still lose a race: start() retries). Probes with
# bash's /dev/tcp, no extra process.
free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

source "$HARNESS_DIR/server_process.sh"  # watch_owner, stop_pid

start() {
  local d=$1 t0 attempt port tls_port pid i up
  [ -n "$d" ] || die "usage: slapd.sh start DIR"
  mkdir -p "$d"
  d=$(cd "$d" && pwd)
  [ -z "$(ls -A "$d")" ] || die "$d is not empty"
  t0=$(now_ms)
  mkdir -p "$d/slapd.d" "$d/db"
  make_certs "$d"
  write_config "$d"
  slapadd -n0 -F "$d/slapd.d" -l "$d/config.ldif" >"$d/slapadd.log" 2>&1 \
    || die "slapadd of cn=config failed: $(tail -n1 "$d/slapadd.log")"
  up=0
  for attempt in 1 2 3 4 5; do
    port=$(free_port) || die "no free port"
    tls_port=$(free_port) || die "no free port"
    [ "$port" != "$tls_port" ] || continue
    slapd -d stats -F "$d/slapd.d" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$tls_port/" \
      >"$d/slapd.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$d/slapd.pid.harness"
    for i in $(seq 1 250); do
      if ! [ -d "/proc/$pid" ] || grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
        break
      fi
      # Both listeners are opened before slapd accepts anything; the load below is the real test.
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        up=1; break
      fi
      sleep 0.01
    done
    [ "$up" -eq 1 ] && break
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ "$up" -eq 1 ] || die "slapd did not start: $(tail -n1 "$d/slapd.log")"
  local ready_ms=$(( $(now_ms) - t0 ))
  watch_owner "$pid"
  load_data "$d" "$port"
  umask 077
  printf '%s\n' "$BIND_PW" >"$d/bind.pw"
  chmod 0600 "$d/bind.pw"
  cat >"$d/env" <<ENV
SLAPD_DIR=$d
SLAPD_PID=$pid
SLAPD_PORT=$port
SLAPD_TLS_PORT=$tls_port
SLAPD_URL=ldap://127.0.0.1:$port
SLAPD_LDAPS_URL=ldaps://127.0.0.1:$tls_port
SLAPD_CA=$d/ca.pem
SLAPD_OTHER_CA=$d/other-ca.pem
SLAPD_BASE=$SUFFIX
SLAPD_BIND_DN=$BIND_DN
SLAPD_BIND_PW_FILE=$d/bind.pw
SLAPD_LOG=$d/slapd.log
SLAPD_ROOT_DN=$ROOT_DN
SLAPD_ROOT_PW_FILE=$d/root.pw
SLAPD_ROTATE_DN=$ROTATE_DN
SLAPD_START_MS=$ready_ms
SLAPD_TOTAL_MS=$(( $(now_ms) - t0 ))
ENV
  cat "$d/env"
}

# Loads people.ldif through the running server (so memberof and ppolicy act) and locks erin, in
# one ldapmodify run.
load_data() {
  local d=$1 port=$2
  { cat "$DATA_DIR/people.ldif"
    printf '\ndn: uid=erin,ou=people,%s\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n' "$SUFFIX"
  } | ldapmodify -a -x -H "ldap://127.0.0.1:$port" -D "$ROOT_DN" -y "$d/root.pw" \
    >"$d/ldapadd.log" 2>&1 || die "loading people.ldif failed: $(tail -n1 "$d/ldapadd.log")"
}

stop() {
  local d=$1
  [ -n "$d" ] && [ -f "$d/slapd.pid.harness" ] || die "usage: slapd.sh stop DIR (no pid file)"
  stop_pid "$(cat "$d/slapd.pid.harness")" 200
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  *) die "usage: slapd.sh start|stop DIR" ;;
esac
