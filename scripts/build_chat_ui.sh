#!/usr/bin/env bash
# Agent Chat UI for the browser test (issue 23) and for trying the agent in a chat: the Vite app of the npm
# package create-agent-chat-app (the template the Agent Chat UI project publishes), its dependencies pinned by
# ui/package-lock.json (generated here, for that package.json), built into .ui/agent-chat-ui/dist.
# Everything comes from the npm registry; nothing of it is kept in this repository. Usage:
#   bash scripts/build_chat_ui.sh        (about 1 min; again: does nothing when the build is current)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.1.6
OUT=.ui/agent-chat-ui
STAMP="$OUT/.built-$VERSION-$(sha256sum ui/package-lock.json | cut -c1-12)"
if [ -f "$STAMP" ] && [ -f "$OUT/dist/index.html" ]; then
  echo "== Agent Chat UI already built: $OUT/dist"; exit 0
fi
command -v npm >/dev/null || { echo "build_chat_ui: npm is not installed (Node.js 18+ with npm is needed)"; exit 1; }
rm -rf .ui/pack "$OUT" && mkdir -p .ui/pack
echo "== fetching create-agent-chat-app@$VERSION from the npm registry"
(cd .ui/pack && npm pack --silent "create-agent-chat-app@$VERSION" >/dev/null && tar xzf "create-agent-chat-app-$VERSION.tgz")
cp -r .ui/pack/package/templates/vite "$OUT"
cp ui/package-lock.json "$OUT/package-lock.json"
echo "== installing its dependencies (npm ci, pinned by ui/package-lock.json)"
(cd "$OUT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
echo "== building (vite build)"
(cd "$OUT" && npx --no-install vite build --logLevel error)
touch "$STAMP"
echo "== Agent Chat UI built: $OUT/dist (open it with ?apiUrl=<server>&assistantId=<graph>)"
