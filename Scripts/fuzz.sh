#!/usr/bin/env bash
# Fuzzes one parser with mutated fixtures:  Scripts/fuzz.sh TARGET [SECONDS]
#   TARGET: pickle, zip (torch.save and TorchScript archives), legacy, safetensors, npy, png, jpeg, or all
#   SECONDS: budget per target (default 60)
#
# The default engine is pthkit-fuzz's deterministic mutation driver (same inputs on every run for a
# given PTHKIT_FUZZ_SEED), run under prlimit so that unbounded allocation fails the run too: any
# crash, per-input timeout or out-of-memory exits non-zero and leaves the input in
# .build/fuzz/artifacts/crash-TARGET, to be turned into a case of Scripts/make_hostile_fixtures.py.
#
# PTHKIT_FUZZ_ENGINE=libfuzzer builds the same targets with -sanitize=fuzzer,address instead
# (coverage-guided, AddressSanitizer; debug build in .build-fuzz-debug) and runs libFuzzer with the
# same seeds and dictionaries. Scripts/test.sh runs every target both ways.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

target="${1:?usage: Scripts/fuzz.sh TARGET [SECONDS]}"
seconds="${2:-60}"
engine="${PTHKIT_FUZZ_ENGINE:-driver}"
seed="${PTHKIT_FUZZ_SEED:-1}"
memory_mib="${PTHKIT_FUZZ_MEMORY_MIB:-2048}"
targets=(pickle zip legacy safetensors npy png jpeg)
if [ "$target" = all ]; then
    # The first target builds (when needed); the others reuse that build.
    for each in "${targets[@]}"; do
        if [ "$each" = "${targets[0]}" ]; then "$0" "$each" "$seconds"; else PTHKIT_FUZZ_NO_BUILD=1 "$0" "$each" "$seconds"; fi
    done
    exit 0
fi
case " ${targets[*]} " in *" $target "*) ;; *) echo "unknown target $target (${targets[*]}, all)" >&2; exit 2 ;; esac

dict="Tests/Fuzz/dictionaries/$(case "$target" in legacy) echo pickle ;; *) echo "$target" ;; esac).dict"
corpora=(Tests/Fixtures/checkpoints Tests/Fixtures/hostile Tests/Fixtures/images Tests/Fixtures/kernels
    Tests/Fixtures/generated/formats)
artifacts=.build/fuzz/artifacts
mkdir -p "$artifacts"

if [ "$engine" = libfuzzer ]; then
    # Debug (-Onone) by default: it compiles several times faster than an optimized instrumented
    # build, and a short coverage-guided run needs coverage more than speed (PTHKIT_FUZZ_CONFIG=release
    # for long campaigns).
    config="${PTHKIT_FUZZ_CONFIG:-debug}"
    build=".build-fuzz-$config"
    if [ ! -x "$build/$config/pthkit-fuzz" ] || [ -z "${PTHKIT_FUZZ_NO_BUILD:-}" ]; then
        rm -rf .build/fuzz/seeds
        swift build -c "$config" --product pthkit-fuzz --build-path "$build" \
            -Xswiftc -sanitize=fuzzer,address -Xswiftc -DPTHKIT_LIBFUZZER -Xswiftc -use-ld=lld \
            -Xcc -fsanitize=fuzzer-no-link,address >&2
    fi
    # A fresh corpus folder per run, so a budget is spent mutating, not replaying earlier runs' finds.
    corpus="$(mktemp -d)"
    trap 'rm -rf "$corpus"' EXIT
    seeds=".build/fuzz/seeds/$target"
    # The seeds the deterministic driver would take for this target (the pickles inside checkpoints
    # for `pickle`, files up to 256 KiB): libFuzzer runs every seed before it looks at its clock, so
    # feeding it every fixture would spend a short budget on inputs the target refuses at once.
    if [ ! -d "$seeds" ]; then
        [ -x .build/release/pthkit-fuzz ] || swift build -c release --product pthkit-fuzz >&2
        corpus_args=()
        for folder in "${corpora[@]}"; do corpus_args+=(--corpus "$folder"); done
        .build/release/pthkit-fuzz "$target" --export-seeds "$seeds" "${corpus_args[@]}"
    fi
    # libFuzzer grows its corpus in the first folder; the fixtures only seed it. Any crash, or an
    # input past the time or memory limit, exits non-zero and leaves the input in $artifacts.
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" PTHKIT_FUZZ_TARGET="$target" \
        timeout --signal=KILL $(( ${seconds%.*} * 3 + 300 )) "$build/$config/pthkit-fuzz" \
        "$corpus" "$seeds" -dict="$dict" -max_total_time="$seconds" -timeout=10 -rss_limit_mb="$memory_mib" \
        -seed="$seed" -artifact_prefix="$artifacts/" -print_final_stats=1 2>&1 | tail -n 12 >&2
    exit "${PIPESTATUS[0]}"
fi

binary=".build/release/pthkit-fuzz"
if [ ! -x "$binary" ] || [ -n "${PTHKIT_FUZZ_BUILD:-}" ]; then
    swift build -c release --product pthkit-fuzz >&2
fi
corpus_args=()
for folder in "${corpora[@]}"; do corpus_args+=(--corpus "$folder"); done
# CPU limit: the budget plus slack for the seeds; wall limit: three times that on a shared machine.
cpu=$(( ${seconds%.*} + 60 ))
status=0
timeout --signal=KILL $(( cpu * 3 )) prlimit --as=$(( memory_mib << 20 )) --cpu="$cpu" -- \
    "$binary" "$target" --seconds "$seconds" --seed "$seed" --timeout 10 --dict "$dict" \
    --artifacts "$artifacts" "${corpus_args[@]}" || status=$?
if [ "$status" -ne 0 ]; then
    echo "fuzz $target: FAILED (exit $status); input kept in $artifacts/crash-$target if it crashed or hung" >&2
    exit 1
fi
