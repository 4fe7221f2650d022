#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the integration tests drive for real:
#   obs-studio (OBS 29+, obs-websocket built in), xvfb (a display for OBS and Chromium),
#   ffmpeg (ffprobe, test streams), chromium + chromium-driver (the browser dock's test),
#   curl (the README's control example), iproute2 (`ip netns`: the remote control test's second network).
# Idempotent: packages already installed are skipped, and with nothing missing apt is not run at
# all. Runs `apt-get update` once, only when something must be installed. Fails loudly (non-zero
# exit, apt's own error) when apt cannot install a package. Needs root (or sudo).
set -euo pipefail

packages=(obs-studio obs-plugins xvfb ffmpeg chromium chromium-driver curl iproute2)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_system: no dpkg/apt-get on this machine: install ${packages[*]} with your package manager" >&2
    exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup_system: already installed: ${packages[*]}"
    exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "setup_system: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
    as_root=(sudo)
fi

echo "setup_system: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q "${missing[@]}"  # with Recommends: obs-plugins holds ffmpeg_source and obs-websocket
echo "setup_system: done"
