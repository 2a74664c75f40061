"""The ingest's floor on this machine: what any ingest of the same lines into the same events
table must spend, beside what ``stylehint ingest`` spends.

    .venv/bin/python benchmarks/bench_ingest_floor.py                 # 1M real-shape lines
    .venv/bin/python benchmarks/bench_ingest_floor.py --lines 100000  # quicker
    .venv/bin/python benchmarks/bench_ingest_floor.py --json

In a throwaway PostgreSQL database on the local server: the real-shape lines (seed 7, 30 days,
as ``bench_pipeline.py``) are ingested by ``ingest_file`` as ``stylehint ingest PATH`` does
(timed: the ingest as it is). Then, from what that ingest stored:
- *the store's floor*: the stored rows, taken out as COPY text, loaded again with one
  ``COPY … FROM STDIN`` into an empty copy of ``autofill_events`` (its columns, keys and
  indexes), and once more into a copy with the primary key only; the server backend's CPU read
  from ``/proc/<pid>/stat`` (the server runs here), so no client work is counted;
- *the decoder's floor*: every line decoded by ``msgspec.json.decode`` into Python objects,
  nothing validated, derived or encoded (this process's CPU time).
A line costs at least the sum of the two floors in CPU, whichever process spends it; with
``nproc`` cores the ingest can go no faster than ``cores / (server + decoder)`` lines a
second, whatever the client does. The stored-id probe, validation, derived fields, counters
and the COPY text itself come on top.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
END_DAY = date(2025, 3, 30)
TARGET = 50_000   # lines/s, issue 13


def _backend_cpu(cursor) -> float | None:
    """CPU seconds the server backend of ``cursor``'s connection has used (None when the server
    is not on this machine)."""
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _copy_in(raw, table: str, data: bytes) -> tuple[float, float | None]:
    """(wall, server CPU) seconds of one COPY of ``data`` into ``table``, committed."""
    cur = raw.cursor()
    before = _backend_cpu(cur)
    t0 = time.perf_counter()
    cur.copy_expert(f"COPY {table} FROM STDIN", io.BytesIO(data))   # a fixed table name, not input
    raw.commit()
    wall = time.perf_counter() - t0
    after = _backend_cpu(cur)
    cur.close()
    return wall, (after - before if before is not None and after is not None else None)


def _decode_floor(path: Path) -> tuple[float, int]:
    import msgspec

    decode = msgspec.json.Decoder().decode
    n = 0
    t0 = time.process_time()
    with open(path, "rb") as fh:
        for line in fh:
            decode(line)
            n += 1
    return time.process_time() - t0, n


def measure(lines: int, workdir: Path, admin_url: str) -> dict:
    from stylehint_assets.config import Settings
    from stylehint_assets.ingest_parallel import ingest_file, worker_count
    from stylehint_assets.store.engine import get_engine, upgrade
    from stylehint_assets.synthetic import generate_ndjson_lines, make_real_world, write_ndjson

    path = workdir / "events.ndjson"
    write_ndjson(str(path), generate_ndjson_lines(lines, END_DAY, days=30, seed=7,
                                                  world=make_real_world(lines, seed=7)))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"stylehint_floor_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))   # a generated identifier, not input
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = get_engine(url)
        upgrade(engine)
        settings = Settings(database_url=url)
        t0 = time.perf_counter()
        with open(path, "rb") as fh:
            report = ingest_file(engine, fh, settings=settings, received_at=datetime(2025, 3, 31), source="floor")
        ingest_seconds = time.perf_counter() - t0

        raw = engine.raw_connection()
        try:
            out = io.BytesIO()
            cur = raw.cursor()
            cur.copy_expert("COPY autofill_events TO STDOUT", out)
            for ddl in ("CREATE TABLE floor_indexed (LIKE autofill_events INCLUDING ALL)",
                        "CREATE TABLE floor_key_only (LIKE autofill_events INCLUDING DEFAULTS)",
                        "ALTER TABLE floor_key_only ADD PRIMARY KEY (event_id)"):
                cur.execute(ddl)
            raw.commit()
            cur.close()
            data = out.getvalue()
            indexed_wall, indexed_cpu = _copy_in(raw, "floor_indexed", data)
            key_wall, key_cpu = _copy_in(raw, "floor_key_only", data)
        finally:
            raw.close()
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    decode_cpu, decoded = _decode_floor(path)

    stored = report.inserted
    cores = os.cpu_count() or 1
    us = lambda seconds: round(1e6 * seconds / stored, 2) if seconds is not None else None   # noqa: E731
    server_us = us(indexed_cpu if indexed_cpu is not None else indexed_wall)
    decoder_us = round(1e6 * decode_cpu / decoded, 2)
    floor_us = server_us + decoder_us
    return {
        "lines": lines, "stored": stored, "cores": cores, "workers": worker_count(settings),
        "ingest_seconds": round(ingest_seconds, 2), "ingest_lines_per_second": round(lines / ingest_seconds),
        "copy_bytes": len(data),
        "server_copy_indexed": {"wall_s": round(indexed_wall, 2), "cpu_s": indexed_cpu and round(indexed_cpu, 2),
                                "cpu_us_per_row": server_us},
        "server_copy_key_only": {"wall_s": round(key_wall, 2), "cpu_s": key_cpu and round(key_cpu, 2),
                                 "cpu_us_per_row": us(key_cpu if key_cpu is not None else key_wall)},
        "decode_only_cpu_us_per_line": decoder_us,
        "floor_cpu_us_per_line": round(floor_us, 2),
        "ceiling_lines_per_second": round(cores * 1e6 / floor_us),
        "target_lines_per_second": TARGET,
        "target_cpu_us_per_line": round(cores * 1e6 / TARGET, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--admin-url", default=ADMIN_URL, help="the local server where a throwaway database is made")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="stylehint-floor-") as tmp:
        r = measure(args.lines, Path(tmp), args.admin_url)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(f"{r['lines']:,} real-shape lines, {r['stored']:,} stored; {r['cores']} cores, {r['workers']} decoding workers")
    print(f"  stylehint ingest (ingest_file)          {r['ingest_seconds']:8.2f} s  {r['ingest_lines_per_second']:>8,} lines/s")
    for label, key in (("server COPY, the store's indexes", "server_copy_indexed"),
                       ("server COPY, primary key only", "server_copy_key_only")):
        c = r[key]
        print(f"  {label:<38} {c['wall_s']:8.2f} s wall, {c['cpu_s']} s backend CPU = {c['cpu_us_per_row']} us/row")
    print(f"  msgspec decode only                     {r['decode_only_cpu_us_per_line']:8.2f} us/line CPU")
    print(f"  floor: {r['floor_cpu_us_per_line']} CPU-us a line -> at most {r['ceiling_lines_per_second']:,} lines/s "
          f"on {r['cores']} cores (target {r['target_lines_per_second']:,}/s needs <= {r['target_cpu_us_per_line']} us)")


if __name__ == "__main__":
    main()
