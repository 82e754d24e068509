#!/bin/sh
# Installs the Debian packages g4 needs to build and test, if any are missing.
# Idempotent and quick when everything is present; needs root (or sudo) to install.
#   build:  gcc, make, libcjson-dev (the core library's only dependency besides libc/libm/pthreads),
#           libedit-dev (line editing in `g4 chat`; the command only, not the library),
#           libmicrohttpd-dev (the HTTP server of `g4 serve`; the command only, not the library)
#   tests:  clang + libclang-rt-14-dev (sanitizer and fuzzer builds), nodejs + npm (the
#           llama.cpp and tokenizer reference assets, fetched from npm into .cache/), git;
#           on amd64, gcc-aarch64-linux-gnu + libc6-dev-arm64-cross + qemu-user-static (the
#           AArch64 NEON kernels cross-built and run under emulation: tests/test_arm.sh)
set -e
PKGS="build-essential libcjson-dev libedit-dev libmicrohttpd-dev clang libclang-rt-14-dev git ca-certificates"
[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] && PKGS="$PKGS gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js may come from elsewhere (nodesource bundles npm); only install when absent.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "[install-deps] installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
