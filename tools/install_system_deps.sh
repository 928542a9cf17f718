#!/usr/bin/env bash
# make demo / make test: installs the system programs AVA runs (ffmpeg, ffprobe; chromium and chromium-driver for
# python -m ava.fetch stage=media) and its tests use (espeak-ng, speech the verbalizer tests make;
# fonts-wqy-microhei, a 1.6 MB CJK font the OCR tests render Chinese with; strace, which traces a verbalize run
# for network sockets) when they are missing.
# Uses apt-get as root, or sudo when it is there; otherwise stops and names what to install.
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
command -v strace >/dev/null 2>&1 || missing+=(strace)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install_system_deps: installing ${missing[*]} (ffmpeg decodes ad media; chromium renders Ad Library snapshot pages; espeak-ng speaks the tests' speech; the CJK font draws the OCR tests' Chinese; strace traces a test run's sockets)"
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install_system_deps: ${missing[*]} missing and this user cannot install them; install those packages" >&2
  exit 1
fi
