#!/usr/bin/env bash
# Builds the CKernels harness (clang -O2, or gcc, over the CKernels sources, OpenBLAS) and runs it.
#   Scripts/bench_kernels.sh check            correctness of every path; exits 1 on a mismatch
#   Scripts/bench_kernels.sh linear [REPS]    packed linear layers vs OpenBLAS sgemm, one thread
#   Scripts/bench_kernels.sh [bench options]  conv layers of resnet18/50, mobilenet_v2, efficientnet_b0
#                                            (Scripts/kernel_harness/layers.txt) vs OpenBLAS im2col+sgemm;
#                                            options: --threads N --reps N --isa portable|avx2-fma|avx512 --model M --layers --cpu-time --best --batch 1|8
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/.build/kernel_harness"
mkdir -p "$build"
blas_flags="$(pkg-config --cflags --libs openblas 2>/dev/null || echo -lopenblas)"
# SwiftPM compiles CKernels with clang: so does the harness where clang is installed (gcc is the
# fallback; it does not specialize the channel-blocked tiles and times them about 2x slower).
compiler="$(command -v clang || command -v gcc)"
"$compiler" -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-missing-field-initializers \
    -I"$root/Sources/CKernels/include" -I"$root/Sources/CKernels" \
    "$root/Scripts/kernel_harness/harness.c" "$root"/Sources/CKernels/*.c \
    -o "$build/harness" $blas_flags -lm -lpthread
# OpenBLAS's threads spin for about 2^28 cycles after each of its calls (its peak sgemm and im2col
# reference columns): our kernels timed in that window shared the cores with them, and two-thread
# figures read up to 3x slow. 2^4 cycles lets them sleep at once.
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-4}"
if [[ "${1:-}" == "check" || "${1:-}" == "linear" ]]; then
    exec "$build/harness" "$@"
fi
exec "$build/harness" bench "$root/Scripts/kernel_harness/layers.txt" "$@"
