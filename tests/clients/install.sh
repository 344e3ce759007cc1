#!/usr/bin/env bash
# Installs the OpenFeature clients that tests/serve/clients.rs runs against
# the relay, into CACHE (the test passes `<cargo target dir>/client-cache`):
#
#   CACHE/py    a virtual environment with the packages of requirements.txt
#   CACHE/node  package.json + package-lock.json installed with `npm ci`,
#               and the client programs (*.mjs) beside their node_modules
#
# Idempotent: each part is installed again only when its manifest changed
# (a stamp holds the manifest's hash). Safe to run from several processes at
# once (one waits for the other on a lock).
#
# Exit status: 0 installed; 75 a registry could not be reached (the test is
# skipped, except under CI); anything else: the installation failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${1:?usage: install.sh CACHE_DIR}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
log="$cache/install.log"

exec 9>"$cache/.lock"
flock 9

# A failed step: 75 when its log shows an unreachable registry, 1 otherwise.
failed() {
  local what="$1"
  echo "error: installing the $what clients failed; the log follows" >&2
  tail -n 40 "$log" >&2
  if grep -Eq 'NewConnectionError|ConnectTimeoutError|ReadTimeoutError|Temporary failure in name resolution|Name or service not known|Network is unreachable|No route to host|Connection refused|ProxyError|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network request to .* failed' "$log"; then
    exit 75
  fi
  exit 1
}

stamp_of() {
  { sha256sum "$@"; "${python}" --version 2>&1; node --version; } | sha256sum | cut -d' ' -f1
}

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "error: \`$python\` is not installed" >&2; exit 1; }
command -v node >/dev/null || { echo "error: \`node\` is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "error: \`npm\` is not installed" >&2; exit 1; }

# Python: openfeature-sdk + openfeature-provider-ofrep.
py="$cache/py"
want="$(stamp_of "$here/requirements.txt")"
if [ "$(cat "$py/.installed" 2>/dev/null)" != "$want" ]; then
  rm -rf "$py"
  "$python" -m venv "$py" >"$log" 2>&1 || failed Python
  "$py/bin/python" -m pip install --disable-pip-version-check --no-input \
    --requirement "$here/requirements.txt" >>"$log" 2>&1 || { rm -rf "$py"; failed Python; }
  echo "$want" >"$py/.installed"
fi

# JavaScript: the server SDK with the OFREP provider, the web SDK with the
# OFREP web provider, and `eventsource` (node 20 has no EventSource).
js="$cache/node"
want="$(stamp_of "$here/package.json" "$here/package-lock.json")"
if [ "$(cat "$js/.installed" 2>/dev/null)" != "$want" ]; then
  rm -rf "$js"
  mkdir -p "$js"
  cp "$here/package.json" "$here/package-lock.json" "$js/"
  (cd "$js" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >"$log" 2>&1 \
    || { rm -rf "$js"; failed JavaScript; }
  echo "$want" >"$js/.installed"
fi
# ES modules find their packages from where they are: the programs run from
# beside node_modules (copied on every run, so an edit is picked up).
cp "$here"/*.mjs "$js/"
