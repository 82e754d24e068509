#!/bin/sh
# Installs the official OpenAI client for Node (npm package `openai`, pinned) into
# <repo>/.cache/openai/ (git-ignored), for tests/serve/openai.mjs. Idempotent and quiet
# when it is already there. 6.49.0 is the newest release that runs on Node 20 (7.x
# needs Node 22); Debian 12 ships Node 18/20.
set -eu
VERSION=6.49.0
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIR="$ROOT/.cache/openai"
say() { printf '[openai-setup] %s\n' "$*" >&2; }
command -v node >/dev/null || { say "node is not installed"; exit 1; }
command -v npm >/dev/null || { say "npm is not installed"; exit 1; }
have=$(node -e 'try { process.stdout.write(require(process.argv[1]).version) } catch (e) {}' \
    "$DIR/node_modules/openai/package.json" 2>/dev/null || true)
[ "$have" = "$VERSION" ] && exit 0
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || printf '{ "name": "g4-serve-client", "private": true }\n' > "$DIR/package.json"
say "installing openai@$VERSION into $DIR ..."
(cd "$DIR" && npm install --no-audit --no-fund --fetch-retries=1 --fetch-timeout=30000 "openai@$VERSION" >&2) \
    || { say "npm install failed (is the registry reachable?)"; exit 1; }
have=$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$DIR/node_modules/openai/package.json")
[ "$have" = "$VERSION" ] || { say "openai@$VERSION missing after npm install"; exit 1; }
