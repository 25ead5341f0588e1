#!/usr/bin/env bash
# Installs what is missing, builds the three programs into BUILD/bin (sekishod, the sekisho CLI and
# sekisho-worker), initialises a data dir on first run, and starts the gateway on its embedded
# defaults (API on https://127.0.0.1:8443, SSH gateway on 0.0.0.0:2222).
#   SEKISHO_DATA_DIR  data dir (default: ./var in the repository)
#   SEKISHO_CONFIG    TOML config file (default: none, the embedded defaults)
#   SEKISHO_BUILD_DIR build dir (default: ./build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SEKISHO_BUILD_DIR:-$root/build}
data=${SEKISHO_DATA_DIR:-$root/var}

"$root/scripts/setup.sh"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target sekishod sekisho sekisho-worker -j"$(nproc)" >/dev/null
bin="$build/bin"
for program in sekishod sekisho sekisho-worker; do
  [ -x "$bin/$program" ] || { echo "run.sh: the build made no $bin/$program" >&2; exit 1; }
done
# The paths printed below are the ones a user types: relative when run from the repository.
show_bin=$bin
[ "$(pwd)" != "$root" ] || show_bin=${bin#"$root"/}

if [ ! -e "$data/master.key" ]; then
  # init's closing hint ("Start it with: sekishod serve …") is what this script does next.
  "$bin/sekishod" init --data-dir "$data" | grep -v '^Start it with: '
  echo
  echo "Log in as this operator with the one-time password above (you will be asked for a new one),"
  echo "from another terminal: $show_bin/sekisho login --user admin"
fi
args=(serve --data-dir "$data")
[ -z "${SEKISHO_CONFIG:-}" ] || args+=(--config "$SEKISHO_CONFIG")
echo "Starting sekishod (data dir $data); stop it with Ctrl-C."
echo "Check it: curl --cacert $data/tls.crt https://127.0.0.1:8443/v1/health"
echo "The CLI (the README's tour): $show_bin/sekisho"
echo "SSH gateway: ssh -p 2222 ACCOUNT@HOST@this-machine (listens on [ssh] listen, default 0.0.0.0:2222)"
exec "$bin/sekishod" "${args[@]}"
