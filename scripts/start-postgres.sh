#!/usr/bin/env bash
# Start the local PostgreSQL cluster when it is installed but down (tests use 127.0.0.1:5432).
set -euo pipefail
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  exit 0
fi
if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
    sleep 1
  done
fi
echo "PostgreSQL is not running on 127.0.0.1:5432; PostgreSQL tests will skip (and fail under CI=true)" >&2
