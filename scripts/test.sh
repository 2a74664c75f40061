#!/usr/bin/env bash
# The test command: install what the tests need, then run the whole suite (e2e included).
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not e2e" -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/start-postgres.sh
if [ -x scripts/install-ops-tools.sh ]; then
  scripts/install-ops-tools.sh
fi
exec .venv/bin/python -m pytest "$@"
