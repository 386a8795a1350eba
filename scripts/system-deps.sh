#!/usr/bin/env bash
# Debian packages the test hosts, the NTP server and the demo need; installed only when missing.
set -euo pipefail
packages=(debootstrap systemd-container chrony openssh-client rsync faketime shellcheck)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: need root to install: ${missing[*]}" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 0
fi
echo "system-deps: installing ${missing[*]}"
apt-get update -qq
# The host's own chrony must not start: tests run their own chronyd processes.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
