#!/usr/bin/env bash
# Installs the Debian packages PthKit builds against, only when pkg-config cannot find them.
set -euo pipefail

needed=()
pkg-config --exists libzip 2>/dev/null || needed+=(libzip-dev)
pkg-config --exists openblas 2>/dev/null || needed+=(libopenblas-dev)
pkg-config --exists libpng 2>/dev/null || needed+=(libpng-dev)
pkg-config --exists libjpeg 2>/dev/null || needed+=(libjpeg-dev)
pkg-config --exists libcrypto 2>/dev/null || needed+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || needed+=(pkg-config)

if [ ${#needed[@]} -gt 0 ]; then
    echo "installing Debian packages: ${needed[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${needed[@]}" >/dev/null
fi
