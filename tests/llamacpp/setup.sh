#!/usr/bin/env bash
# Fetch the llama.cpp reference (prebuilt, from npm) and the Gemma 4 vocabulary files.
#
#   tests/llamacpp/setup.sh            # idempotent; safe to run from any directory
#
# Installs into <repo>/.cache/llamacpp/ (git-ignored):
#   node-llama-cpp@3.22.1 and @node-llama-cpp/linux-x64@3.22.1 (prebuilt CPU binaries)
# Extracts from the package's llama/gitRelease.bundle (llama.cpp commit de3ff81) into
# <repo>/.cache/vocab/:
#   ggml-vocab-gemma-4.gguf, ggml-vocab-gemma-4.gguf.inp, ggml-vocab-gemma-4.gguf.out
# The llama.cpp source checkout itself is kept in <repo>/.cache/llamacpp/src/ for reading.
set -euo pipefail

VERSION=3.22.1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache"
LC="$CACHE/llamacpp"
VOCAB="$CACHE/vocab"
PKG="$LC/node_modules/node-llama-cpp"
BIN="$LC/node_modules/@node-llama-cpp/linux-x64"

say() { printf '[llamacpp-setup] %s\n' "$*" >&2; }
die() { printf '[llamacpp-setup] ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node is not installed (apt-get install nodejs npm)"
command -v npm  >/dev/null || die "npm is not installed (apt-get install npm)"
command -v git  >/dev/null || die "git is not installed"

installed_version() {  # $1 = package dir
    [ -f "$1/package.json" ] || return 1
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$1/package.json" 2>/dev/null
}

mkdir -p "$LC" "$VOCAB"

# 1. npm packages -------------------------------------------------------------------------
if [ "$(installed_version "$PKG" || true)" = "$VERSION" ] && \
   [ "$(installed_version "$BIN" || true)" = "$VERSION" ]; then
    say "node-llama-cpp@$VERSION and @node-llama-cpp/linux-x64@$VERSION already installed in $LC"
else
    say "checking that the npm registry is reachable ..."
    if ! npm view --fetch-retries=1 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000 --fetch-timeout=30000 \
            "node-llama-cpp@$VERSION" version >/dev/null 2>&1; then
        die "cannot reach the npm registry ($(npm config get registry)); node-llama-cpp@$VERSION is needed from there"
    fi
    [ -f "$LC/package.json" ] || printf '{ "name": "g4-llamacpp-reference", "private": true }\n' > "$LC/package.json"
    say "installing node-llama-cpp@$VERSION + @node-llama-cpp/linux-x64@$VERSION into $LC (about 85 MB) ..."
    ( cd "$LC" && npm install --omit=optional --ignore-scripts --no-audit --no-fund \
          "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION" >&2 ) \
        || die "npm install failed (see above)"
    [ "$(installed_version "$PKG" || true)" = "$VERSION" ] || die "node-llama-cpp@$VERSION missing after npm install"
    [ "$(installed_version "$BIN" || true)" = "$VERSION" ] || die "@node-llama-cpp/linux-x64@$VERSION missing after npm install"
fi

# 2. llama.cpp source from the git bundle ----------------------------------------------
BUNDLE="$PKG/llama/gitRelease.bundle"
SRC="$LC/src"
[ -f "$BUNDLE" ] || die "$BUNDLE not found in the installed package"
if [ -f "$SRC/models/ggml-vocab-gemma-4.gguf" ]; then
    say "llama.cpp source already cloned in $SRC ($(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?'))"
else
    say "cloning llama.cpp source from $BUNDLE into $SRC ..."
    rm -rf "$SRC.tmp"
    git -c advice.detachedHead=false clone --quiet "$BUNDLE" "$SRC.tmp" || die "git clone of $BUNDLE failed"
    rm -rf "$SRC"
    mv "$SRC.tmp" "$SRC"
    say "llama.cpp commit $(git -C "$SRC" rev-parse --short HEAD)"
fi

# 3. vocabulary files -------------------------------------------------------------------
for f in ggml-vocab-gemma-4.gguf ggml-vocab-gemma-4.gguf.inp ggml-vocab-gemma-4.gguf.out; do
    [ -f "$SRC/models/$f" ] || die "$f not found in the llama.cpp bundle"
    if [ -f "$VOCAB/$f" ] && cmp -s "$SRC/models/$f" "$VOCAB/$f"; then
        say "$VOCAB/$f up to date"
    else
        cp "$SRC/models/$f" "$VOCAB/$f.tmp" && mv "$VOCAB/$f.tmp" "$VOCAB/$f"
        say "extracted $VOCAB/$f"
    fi
done

say "done. logits: node $ROOT/tests/llamacpp/logits.mjs MODEL.gguf --tokens 2,17,99 --out out.f32"
