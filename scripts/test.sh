#!/usr/bin/env bash
# The test command: install what the tests need, then run the whole suite (e2e included).
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not e2e" -x
# The suite's PostgreSQL tests use psycopg2; the store tests then run once more under
# psycopg 3 (STYLEHINT_TEST_PG_DRIVER=psycopg). STYLEHINT_TEST_ONE_DRIVER=1 skips that pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/start-postgres.sh
if [ -x scripts/install-ops-tools.sh ]; then
  scripts/install-ops-tools.sh
fi
.venv/bin/python -m pytest "$@"
if [ "${STYLEHINT_TEST_ONE_DRIVER:-0}" != "1" ]; then
  STYLEHINT_TEST_PG_DRIVER=psycopg .venv/bin/python -m pytest -p no:cacheprovider -q -m "postgres and not e2e" \
    tests/test_ingest.py tests/test_hostile_input.py tests/test_drivers.py tests/test_engine.py \
    tests/test_backfill.py tests/test_reference_pandas.py tests/test_metrics.py
fi
