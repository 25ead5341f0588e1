#!/usr/bin/env bash
# DESIGN.md "Architecture": code that talks to managed hosts runs in workers, never in the core.
# Shown on the built programs: sekishod imports none of libssh's functions that speak the SSH
# protocol (client handshake, server key exchange, user auth, channels), while sekisho-worker,
# which does the speaking, imports them (so the check is known to see an import when there is one).
# The core keeps libssh for key parsing and signature checks only.
set -euo pipefail
source "$(dirname "$0")/../harness/lib.sh"
worker="$(dirname "$SEKISHOD")/sekisho-worker"
[ -x "$worker" ] || fail "no sekisho-worker next to $SEKISHOD"

# The functions without which no SSH conversation can happen, client or server side.
speaking='^(ssh_connect|ssh_handle_key_exchange|ssh_bind_accept|ssh_bind_accept_fd|ssh_userauth_[a-z_]+|ssh_channel_open_session|ssh_get_server_publickey)$'

imports() { nm -D --undefined-only "$1" | awk '{print $NF}' | sed 's/@.*//' | sort -u; }

core=$(imports "$SEKISHOD")
grep -q '^ssh_' <<<"$core" || fail "sekishod imports no libssh function at all: is this the core binary?"
found=$(grep -E "$speaking" <<<"$core" || true)
[ -z "$found" ] || fail "sekishod speaks SSH itself (imports $(tr '\n' ' ' <<<"$found"))"
pass "sekishod imports no SSH-speaking libssh function"

w=$(imports "$worker")
for f in ssh_connect ssh_handle_key_exchange ssh_get_server_publickey; do
  grep -qx "$f" <<<"$w" || fail "sekisho-worker does not import $f: the check would see nothing"
done
pass "sekisho-worker imports ssh_connect, ssh_handle_key_exchange, ssh_get_server_publickey"
