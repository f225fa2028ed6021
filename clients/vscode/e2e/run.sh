#!/usr/bin/env bash
# The VS Code end-to-end test: build the .vsix, install it into a real VS Code (code-server
# 4.100.3, the newest that runs on Node 20), serve it on loopback and drive it from headless
# Chromium with playwright-core: type in a Python file, see Infill's ghost text, Tab, save.
#
#   bash clients/vscode/e2e/run.sh        (from the repository root, after `make install`)
#
# Needs Node 20, Debian's chromium and libkrb5-dev (installed with apt-get when missing and
# running as root). Everything code-server writes goes to a temporary directory.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
EXT="$(dirname "$HERE")"
ROOT="$(cd "$EXT/../.." && pwd)"
PYTHON="${INFILL_PYTHON:-$ROOT/.venv/bin/python}"
CHROMIUM="${INFILL_E2E_CHROMIUM:-/usr/bin/chromium}"

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
[ -e /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing: ${missing[*]} (apt-get install -y ${missing[*]})" >&2
    exit 2
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 1. The extension, packaged as users get it.
(cd "$EXT" && npm ci --no-audit --no-fund --silent && npm run --silent package >/dev/null)

# 2. code-server and playwright-core. code-server's install builds native modules: node-gyp
#    takes Node's headers from /usr (no download), and @vscode/ripgrep finds its binary in a
#    cache seeded from the npm package @vscode/ripgrep-linux-x64 (it would fetch it from GitHub).
if [ ! -x "$HERE/node_modules/.bin/code-server" ]; then
  seed="$(mktemp -d)"
  (cd "$seed" && npm pack --silent @vscode/ripgrep-linux-x64@1.18.0 >/dev/null && tar xzf vscode-ripgrep-linux-x64-1.18.0.tgz)
  cache="$(node -p "require('os').tmpdir()")/vscode-ripgrep-cache-1.15.11"
  mkdir -p "$cache"
  tar czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$seed/package/bin" rg
  rm -rf "$seed"
  (cd "$HERE" && npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir=/usr \
    npm install --no-audit --no-fund --foreground-scripts >"$HERE/install.log" 2>&1) \
    || { tail -40 "$HERE/install.log" >&2; exit 1; }
fi

# 3. A throwaway profile, workspace and home: code-server writes into HOME and TMPDIR.
D="$(mktemp -d)"
mkdir -p "$D/home" "$D/scratch" "$D/user/User" "$D/ws" "$D/artifacts"
printf 'def double(x):\n    return x * 2\n\n\n' > "$D/ws/demo.py"
cat > "$D/user/User/settings.json" <<JSON
{
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none",
  "editor.inlineSuggest.enabled": true,
  "infill.server.pythonPath": "$PYTHON",
  "infill.completion.multiline": "never",
  "infill.completion.maxTokens": 16
}
JSON
export HOME="$D/home" XDG_CONFIG_HOME="$D/home/.config" XDG_DATA_HOME="$D/home/.local/share" TMPDIR="$D/scratch"
CS="$HERE/node_modules/.bin/code-server"
"$CS" --user-data-dir "$D/user" --extensions-dir "$D/ext" --install-extension "$EXT/infill.vsix" >/dev/null
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" > "$D/config.yaml"
setsid "$CS" --bind-addr "127.0.0.1:$PORT" --auth none --disable-telemetry --disable-update-check \
  --disable-workspace-trust --user-data-dir "$D/user" --extensions-dir "$D/ext" --config "$D/config.yaml" \
  "$D/ws" >"$D/code-server.log" 2>&1 &
CS_PID=$!
# code-server keeps extension hosts (and so Infill servers) alive for a reconnect: end the group.
status=1
trap 'kill -- -$CS_PID 2>/dev/null; sleep 1; kill -9 -- -$CS_PID 2>/dev/null; [ $status = 0 ] && rm -rf "$D"; true' EXIT
for _ in $(seq 1 150); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
  sleep 0.2
done
status=0
INFILL_E2E_URL="http://127.0.0.1:$PORT/?folder=$D/ws" INFILL_E2E_FILE="$D/ws/demo.py" \
  INFILL_E2E_ARTIFACTS="$D/artifacts" INFILL_E2E_CHROMIUM="$CHROMIUM" \
  node "$HERE/ghost.e2e.js" || status=$?
if [ $status -ne 0 ]; then
  echo "artifacts (screenshots, logs): $D" >&2
  find "$D/user/logs" -name '*Infill*' -exec tail -30 {} \; 2>/dev/null >&2 || true
fi
exit $status
