#!/usr/bin/env bash
# make demo / make test: installs the system programs AVA runs (ffmpeg, ffprobe) when they are missing.
# Uses apt-get as root, or sudo when it is there; otherwise stops and names what to install.
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install_system_deps: installing ffmpeg (needed to decode ad media)"
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg
else
  echo "install_system_deps: ffmpeg is missing and this user cannot install it; install the 'ffmpeg' package" >&2
  exit 1
fi
