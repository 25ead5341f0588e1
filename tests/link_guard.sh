#!/usr/bin/env bash
# The link guard on the BUILT binaries (ctest unit.link_guard), so that no CMake trick can hide a
# link: cmake/link_guard.cmake checks the declared link closure at configure time, this checks
# what the linker produced.
#   worker executables: no NEEDED entry of SQLCipher, libldap, liblber or cpp-httplib, and no
#     symbol of sekisho::storage, sekisho::broker or sekisho::ldap;
#   the pure modules' unit tests: no NEEDED SQLCipher, no symbol of sekisho::storage or
#     sekisho::broker.
# Each binary must also show what it should have (libssh, sekisho:: symbols), so a stripped or
# wrong file fails instead of passing blind.
# Usage: link_guard.sh --worker BIN... --pure BIN...
set -euo pipefail

usage() {
  echo "usage: $0 --worker BIN... --pure BIN..." >&2
  exit 2
}
workers=()
pure=()
list=
for arg in "$@"; do
  case "$list:$arg" in
    *:--worker) list=workers ;;
    *:--pure) list=pure ;;
    workers:*) workers+=("$arg") ;;
    pure:*) pure+=("$arg") ;;
    *) usage ;;
  esac
done
[ ${#workers[@]} -gt 0 ] && [ ${#pure[@]} -gt 0 ] || usage

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
refuse() {
  echo "LINK GUARD: $*" >&2
  failed=1
}

# The NEEDED entries and the demangled symbols of $1 into $tmp/needed and $tmp/symbols (files, not
# pipes: `nm | grep -q` can die of SIGPIPE under pipefail).
read_binary() {
  [ -f "$1" ] || { refuse "$1: no such file (not built?)"; return 1; }
  readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' >"$tmp/needed"
  nm -C "$1" >"$tmp/symbols" 2>/dev/null || true
  if ! grep -q 'sekisho::' "$tmp/symbols"; then
    refuse "$1: no sekisho:: symbols (stripped?): the symbol check would see nothing"
    return 1
  fi
}

# Refuses $1 if it NEEDS a library whose soname starts with one of $3...; $2 says why.
refuse_needed() {
  local bin=$1 rule=$2 lib hit
  shift 2
  for lib in "$@"; do
    hit=$(grep -m1 "^$lib[.-]" "$tmp/needed" || true)
    [ -z "$hit" ] || refuse "$(basename "$bin") needs $hit: $rule"
  done
}

# Refuses $1 if it holds a symbol of one of the namespaces $3...; $2 says why.
refuse_symbols() {
  local bin=$1 rule=$2 ns hit
  shift 2
  for ns in "$@"; do
    hit=$(grep -m1 -F "$ns::" "$tmp/symbols" | sed -E 's/^[0-9a-f]* +[A-Za-z] //' || true)
    [ -z "$hit" ] || refuse "$(basename "$bin") holds $ns symbols (${hit:0:160}): $rule"
  done
}

worker_rule="a worker never links the store, SQLCipher, the HTTP server, the broker or the \
directory"
for bin in "${workers[@]}"; do
  read_binary "$bin" || continue
  grep -q '^libssh\.so' "$tmp/needed" ||
    refuse "$(basename "$bin") does not need libssh: is it a worker?"
  refuse_needed "$bin" "$worker_rule" libsqlcipher libsqlite3 libldap liblber libcpp-httplib
  refuse_symbols "$bin" "$worker_rule" sekisho::storage sekisho::broker sekisho::ldap
  echo "$(basename "$bin"): needs $(paste -sd ' ' "$tmp/needed")"
done

pure_rule="the tests of a pure module link neither the broker nor the store"
for bin in "${pure[@]}"; do
  read_binary "$bin" || continue
  refuse_needed "$bin" "$pure_rule" libsqlcipher
  refuse_symbols "$bin" "$pure_rule" sekisho::storage sekisho::broker
done

[ "$failed" -eq 0 ] || exit 1
echo "link guard: no store, SQLCipher, directory, HTTP server or broker in" \
  "$(printf '%s ' "${workers[@]##*/}")and no store or broker in $(printf '%s ' "${pure[@]##*/}")"
