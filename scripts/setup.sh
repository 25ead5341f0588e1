#!/usr/bin/env bash
# Installs every Debian package Sekisho's build and tests need. Idempotent: when everything is
# present it does nothing (no apt-get update, no network).
set -euo pipefail

# Build: compiler, CMake, ccache and the Debian -dev packages of every library the code links today.
BUILD_PKGS=(
  g++ cmake make pkg-config ccache
  libsqlcipher-dev libssl-dev libspdlog-dev libfmt-dev libssh-dev libcrypt-dev
  libexpected-dev nlohmann-json3-dev libcli11-dev libtoml11-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev
  libldap-dev liboath-dev libzstd-dev libseccomp-dev
)
# Tests: the real tools the tests drive (sqlcipher CLI to tamper as an attacker would, sqlite3 to
# show the file is unreadable without the key, curl to probe the HTTPS API, openssl CLI, python3
# to read JSON output, ssh-keygen to read the host key, setpriv to act as an unprivileged user,
# sudo for the target hosts' rotation and reconcile accounts).
TEST_PKGS=(sqlcipher sqlite3 curl openssl procps python3 openssh-client util-linux
  openssh-server slapd ldap-utils sudo
  samba samba-ad-dc samba-ad-provision winbind samba-dsdb-modules ldb-tools
  asciinema tlog)

# tlog-rec (the recording benchmark's peer) adds a utmp record and fails without /run/utmp, which
# systemd-tmpfiles creates on a booted system but a bare machine or container may lack.
if [ ! -e /run/utmp ] && [ "$(id -u)" -eq 0 ] && getent group utmp >/dev/null; then
  install -m 664 -g utmp /dev/null /run/utmp
fi

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# slapd: no server of its own (tests start slapd from their own config); Kerberos client config
# (pulled in by samba) without asking for a realm.
printf '%s\n' "slapd slapd/no_configuration boolean true" \
  "krb5-config krb5-config/default_realm string SEKISHO.TEST" \
  "krb5-config krb5-config/add_servers_realm string SEKISHO.TEST" | $SUDO debconf-set-selections
# Packages must not start system services (sshd on port 22, samba, slapd): tests start their own
# on loopback. policy-rc.d answers "not now" to every start request during the install.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  made_policy=1
fi
trap '[ "$made_policy" = 0 ] || $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
