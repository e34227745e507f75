#!/usr/bin/env bash
# Creates .venv with the pinned PyTorch oracle (Scripts/requirements-oracle.txt, plus the safetensors
# package of Scripts/requirements-formats.txt) when it is missing or when the requirements changed
# since it was built. Prints the venv's python path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
requirements="$root/Scripts/requirements-oracle.txt"
formats="$root/Scripts/requirements-formats.txt"
stamp="$venv/.requirements.sha256"
wanted="$(cat "$requirements" "$formats" | sha256sum | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "installing the PyTorch oracle into .venv (pinned in Scripts/requirements-oracle.txt)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" -r "$formats" >&2
    echo "$wanted" > "$stamp"
fi
echo "$venv/bin/python"
