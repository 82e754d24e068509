#!/bin/sh
# The AArch64 kernel tables (kernels_neon.c: SDOT, kernels_i8mm.c: SMMLA) against the
# scalar reference, on an x86 machine: test_kernels is cross-built for aarch64, static
# (make test-arm-build), and run under qemu-aarch64-static on emulated CPUs chosen for
# their features, so that run-time selection is tested as well as the kernels:
#   max           SDOT + SMMLA: tests the neon and i8mm tables; the driver uses i8mm
#   max + G4_CPU_ISA=neon / scalar: the forced levels are the ones the driver uses
#   neoverse-n1   SDOT without SMMLA: the i8mm table must not be built
#   cortex-a53    plain Armv8.0: only the scalar table
# Each test_kernels run's counts are added up, plus one check per run that the expected
# table was chosen. Without the cross compiler or qemu it says SKIP (scripts/install-deps.sh
# installs both on amd64 Debian).
ARM_CC=${ARM_CC:-aarch64-linux-gnu-gcc}
ARM_BUILD=${ARM_BUILD:-build-arm}
QEMU=${QEMU:-qemu-aarch64-static}
pass=0; fail=0
if [ "$(uname -m)" = aarch64 ]; then
    echo "SKIP test_arm: an aarch64 host, where test_kernels checks the NEON tables natively"
    echo "test_arm: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
for tool in "$ARM_CC" "$QEMU"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP test_arm: $tool not installed (scripts/install-deps.sh installs it)"
        echo "test_arm: 0 passed, 0 failed, 1 skipped"
        exit 0
    fi
done
# a make of its own, not the one running `make test` (its jobserver, CC and CFLAGS)
if ! out=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s ARM_CC="$ARM_CC" ARM_BUILD="$ARM_BUILD" test-arm-build 2>&1); then
    printf '%s\n' "$out" | tail -n 20
    echo "FAIL test_arm: cross build failed"
    echo "test_arm: 0 passed, 1 failed"
    exit 1
fi
bin=$ARM_BUILD/tests/test_kernels_static
tmp=$(mktemp -d /tmp/g4-arm-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run NAME CPU FORCED_ISA EXPECTED_TABLE (in the background; the runs are independent).
# Each run alone takes under a minute; one hung once (2026-11-27, all its threads asleep in
# futex waits, on a machine loaded by another test run), so a run gets ARM_TIMEOUT seconds
# and then fails as hung rather than holding up make test indefinitely.
ARM_TIMEOUT=${ARM_TIMEOUT:-900}
run() {
    G4_CPU_ISA=$3 timeout "$ARM_TIMEOUT" "$QEMU" -cpu "$2" "$bin" >"$tmp/$1.out" 2>&1
    echo $? >"$tmp/$1.rc"
}
run max max "" i8mm &
run max-neon max neon neon &
run max-scalar max scalar scalar &
run n1 neoverse-n1 "" neon &
run a53 cortex-a53 "" scalar &
wait

check() { # check NAME EXPECTED_TABLE
    o=$tmp/$1.out
    sed -n 's/^FAIL /FAIL test_arm [qemu '"$1"'] /p' "$o"
    line=$(grep -E '^test_kernels: [0-9]+ passed, [0-9]+ failed' "$o" | tail -n 1)
    if [ -z "$line" ]; then
        rc=$(cat "$tmp/$1.rc")
        [ "$rc" = 124 ] && echo "FAIL test_arm [qemu $1]: no result after ${ARM_TIMEOUT} s (hung?)"
        echo "FAIL test_arm [qemu $1]: crashed or no summary (exit $rc): $(tail -c 300 "$o")"
        fail=$((fail + 1)); return
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    pass=$((pass + p)); fail=$((fail + f))
    if grep -q "^best kernel table here: $2\$" "$o"; then pass=$((pass + 1))
    else fail=$((fail + 1)); echo "FAIL test_arm [qemu $1]: expected the $2 table, got: $(grep '^best kernel' "$o")"; fi
    printf 'test_arm [qemu %s]: table %s, %s passed, %s failed\n' "$1" "$2" "$p" "$f" >&2
}
check max i8mm
check max-neon neon
check max-scalar scalar
check n1 neon
check a53 scalar
# on neoverse-n1 the i8mm table must be absent, and on cortex-a53 the neon one too
grep -q '^i8mm: not available' "$tmp/n1.out" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_arm: i8mm table built on neoverse-n1"; }
grep -q '^neon: not available' "$tmp/a53.out" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL test_arm: neon table built on cortex-a53"; }
echo "test_arm: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
