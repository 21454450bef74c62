#!/usr/bin/env bash
# Runs september's whole test suite on a fresh Debian machine: installs what is missing, then
# lints and tests. The tests start their own private PostgreSQL (as the postgres user when run as
# root) unless SEPTEMBER_TEST_DATABASE_URL names a server with q3c.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source deploy/install.sh

ruff check september tests bench migrations
python -m pytest -n 2 --durations=15 "$@"
