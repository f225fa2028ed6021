#!/usr/bin/env bash
# Installs what the real-VS Code test needs, once per machine: Debian's chromium and libkrb5-dev
# (apt-get, as root), and code-server with playwright-core in ~/.cache/infill/vscode-e2e-VERSION
# (outside the clone, so a fresh clone reuses it; about 3 minutes the first time).
#
#   bash clients/vscode/e2e/setup.sh      prints the folder that holds node_modules
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VERSION="$(node -p "require('$HERE/package.json').dependencies['code-server']")-$(node -p "require('$HERE/package.json').dependencies['playwright-core']")"
CACHE="${INFILL_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infill/vscode-e2e-$VERSION}"

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -e /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})" >&2
    exit 2
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# code-server's install builds native modules: node-gyp takes Node's headers from /usr (no
# download), and @vscode/ripgrep finds its binary in a cache seeded from the npm package
# @vscode/ripgrep-linux-x64 (it would fetch it from GitHub).
if [ ! -x "$CACHE/node_modules/.bin/code-server" ]; then
  rm -rf "$CACHE" && mkdir -p "$CACHE"
  cp "$HERE/package.json" "$HERE/package-lock.json" "$CACHE/"
  seed="$(mktemp -d)"
  (cd "$seed" && npm pack --silent @vscode/ripgrep-linux-x64@1.18.0 >/dev/null && tar xzf vscode-ripgrep-linux-x64-1.18.0.tgz)
  ripgrep_cache="$(node -p "require('os').tmpdir()")/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$ripgrep_cache"
  tar czf "$ripgrep_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$seed/package/bin" rg
  rm -rf "$seed"
  (cd "$CACHE" && npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir=/usr \
    npm ci --no-audit --no-fund --foreground-scripts >"$CACHE/install.log" 2>&1) \
    || { tail -40 "$CACHE/install.log" >&2; rm -rf "$CACHE/node_modules"; exit 1; }
fi
echo "$CACHE"
