#!/usr/bin/env bash
# Runs the september demo on a fresh Debian machine: installs what is missing, then simulates a
# night and runs it through september. Outputs go to ./september-demo (or the first argument).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source deploy/install.sh

september demo --workdir "${1:-september-demo}"
