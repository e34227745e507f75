#!/usr/bin/env bash
# Runs every test: installs what is missing (Debian packages, the pinned PyTorch oracle), refreshes
# oracle fixtures whose generator changed, checks the C kernels, builds optimized, runs the fast unit
# tests, then generates the model-zoo references with PyTorch and runs the parity sweep.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

Scripts/ensure-system-packages.sh
python="$(Scripts/ensure-python-oracle.sh)"

# Fixture sets: folder, generator, and the files whose content decides whether it is current.
refresh() {
    local folder="$1" generator="$2"
    shift 2
    local stamp
    stamp="$(cat "$generator" "$@" Scripts/requirements-oracle.txt | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$folder/generator.sha256" 2>/dev/null)" != "$stamp" ]; then
        echo "== generating $folder with $generator" >&2
        rm -rf "$folder"
        "$python" "$generator" --out "$folder"
        echo "$stamp" > "$folder/generator.sha256"
    fi
}

refresh Tests/Fixtures/checkpoints Scripts/make_checkpoint_fixtures.py
refresh Tests/Fixtures/kernels Scripts/make_kernel_fixtures.py
refresh Tests/Fixtures/images Scripts/make_image_fixtures.py
refresh Tests/Fixtures/training Scripts/make_training_fixtures.py
refresh Tests/Fixtures/hostile Scripts/make_hostile_fixtures.py

refresh Tests/Fixtures/generated/loading Scripts/make_loading_fixtures.py
refresh Tests/Fixtures/generated/formats Scripts/make_format_fixtures.py Scripts/make_checkpoint_fixtures.py \
    Scripts/requirements-formats.txt
refresh Tests/Fixtures/generated/structure Scripts/make_structure_fixtures.py \
    Scripts/oracle/design_docs/pytorch_models_notebook_cells/*.py
refresh Tests/Fixtures/generated/weight-transforms Scripts/make_weight_transform_fixtures.py ModelsManifest.json
refresh Tests/Fixtures/generated/efficientnet-same-load Scripts/make_efficientnet_load_fixtures.py \
    Scripts/oracle/design_docs/efficientnet_same_padding.py

echo "== C kernels against a double-precision reference (every ISA path this CPU has)" >&2
Scripts/bench_kernels.sh check

echo "== building (release)" >&2
# A target may import only the targets Package.swift says it depends on: the stages stay one-way.
swift build -c release -Xswiftc -enable-testing --build-tests --explicit-target-dependency-import-check error

export PTHKIT_REQUIRE_GENERATED_FIXTURES=1
echo "== unit tests" >&2
swift test -c release -Xswiftc -enable-testing --skip-build --skip ZooParityTests

# Every parser against mutated fixtures for a fixed budget: a crash, hang or runaway allocation fails.
echo "== fuzzing (20 s per target)" >&2
Scripts/fuzz.sh all 20

zoo_sources=$(find Scripts/oracle -name '*.py' | sort)
# shellcheck disable=SC2086
refresh Tests/Fixtures/generated/zoo Scripts/make_zoo_fixtures.py $zoo_sources
echo "== PyTorch parity sweep" >&2
swift test -c release -Xswiftc -enable-testing --skip-build --filter ZooParityTests

# Sanitizers, with short budgets (PTHKIT_SANITIZERS=0 skips them; =full also runs the whole unit
# suite under both, optimized, which takes about an hour on 2 cores: Scripts/sanitize.sh).
# AddressSanitizer: every fuzz target for 10 s under libFuzzer (coverage-guided, debug build).
# ThreadSanitizer: the suites that share state between threads (debug build; Scripts/sanitize.sh).
sanitizers="${PTHKIT_SANITIZERS:-1}"
if [ "$sanitizers" != 0 ]; then
    echo "== fuzzing under AddressSanitizer (libFuzzer, 10 s per target)" >&2
    PTHKIT_FUZZ_ENGINE=libfuzzer Scripts/fuzz.sh all 10
    Scripts/sanitize.sh thread quick
fi
if [ "$sanitizers" = full ]; then
    Scripts/sanitize.sh address
    Scripts/sanitize.sh thread
fi
