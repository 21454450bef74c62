#!/usr/bin/env bash
# Installs everything september needs on Debian 12 (idempotent, quick when nothing is missing):
# PostgreSQL with q3c, astrometry.net with the Tycho-2 index files, Node.js, and september itself
# in a virtual environment (.venv, or $SEPTEMBER_VENV). Sourced by deploy/demo.sh and deploy/test.sh.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SEPTEMBER_VENV:-$repo/.venv}"

apt_packages=(
  postgresql postgresql-15-q3c
  astrometry.net astrometry-data-tycho2-10-19
  nodejs
  python3-venv
  chromium
)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "september: installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "september: creating the virtual environment $venv"
  python3 -m venv "$venv"
fi
stamp="$venv/.september-installed"
if [ ! -f "$stamp" ] || [ "$repo/pyproject.toml" -nt "$stamp" ]; then
  echo "september: installing the Python package and its dependencies"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e "$repo[test]"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
