#!/usr/bin/env bash
# Runs the unit suite under a sanitizer:  Scripts/sanitize.sh address|thread
# Optimized (-c release) so the model tests finish in minutes, in a build folder of its own
# (.build-address, .build-thread) so the normal build stays incremental. Fixtures and the oracle
# must already be in place (Scripts/test.sh prepares them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

sanitizer="${1:?usage: Scripts/sanitize.sh address|thread}"
case "$sanitizer" in address | thread) ;; *) echo "unknown sanitizer $sanitizer (address, thread)" >&2; exit 2 ;; esac
build=".build-$sanitizer"
flags=(-c release --sanitize="$sanitizer" -Xswiftc -enable-testing --build-path "$build")

echo "== building with the $sanitizer sanitizer" >&2
swift build "${flags[@]}" --build-tests
echo "== unit tests under the $sanitizer sanitizer" >&2
# halt_on_error: the first report fails the run; OpenBLAS's own threads are not instrumented, so
# TSan reports inside libopenblas are not ours to fix and are suppressed by library name.
export PTHKIT_SANITIZER="$sanitizer"
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=0}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:suppressions=$root/Scripts/tsan-suppressions.txt}"
swift test "${flags[@]}" --skip-build --skip ZooParityTests
