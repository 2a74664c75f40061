"""The ingest's floor on this machine: what any ingest of the same lines into the same events
table must spend, beside what ``stylehint ingest`` spends.

    .venv/bin/python benchmarks/bench_ingest_floor.py                 # 1M real-shape lines
    .venv/bin/python benchmarks/bench_ingest_floor.py --lines 100000  # quicker
    .venv/bin/python benchmarks/bench_ingest_floor.py --json

In a throwaway PostgreSQL database on the local server (``bench_ingest``'s, with its lines:
real shape, seed 7, 30 days) the lines are ingested by ``ingest_file`` as ``stylehint ingest PATH`` does
(timed: the ingest as it is). Then, from what that ingest stored:
- *the store's floor*: the stored rows, taken out as COPY text into a file, loaded again with
  one ``COPY … FROM STDIN`` into an empty copy of ``autofill_events`` (its columns, keys and
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
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_ingest import _database, _drop, _write   # noqa: E402  (the throwaway database and lines)

TARGET = 50_000   # lines/s, issue 13


def _backend_cpu(cursor) -> float:
    """CPU seconds the server backend of ``cursor``'s connection has used, from /proc."""
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        raise SystemExit(f"cannot read /proc/{pid}/stat: the PostgreSQL server must run on this machine")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _copy_in(raw, table: str, rows: Path) -> tuple[float, float]:
    """(wall, server CPU) seconds of one COPY of the ``rows`` file into ``table``, committed."""
    cur = raw.cursor()
    before = _backend_cpu(cur)
    t0 = time.perf_counter()
    with open(rows, "rb") as fh:
        cur.copy_expert(f"COPY {table} FROM STDIN", fh)   # a fixed table name, not input
    raw.commit()
    wall = time.perf_counter() - t0
    cpu = _backend_cpu(cur) - before
    cur.close()
    return wall, cpu


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


def measure(lines: int, workdir: Path) -> dict:
    from stylehint_assets.config import Settings
    from stylehint_assets.ingest_parallel import ingest_file, worker_count
    from stylehint_assets.store.engine import get_engine, upgrade

    path, rows = workdir / "events.ndjson", workdir / "rows.copy"
    _write(path, lines, "real")
    admin, name, url = _database("psycopg2")
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
            cur = raw.cursor()
            with open(rows, "wb") as out:
                cur.copy_expert("COPY autofill_events TO STDOUT", out)
            for ddl in ("CREATE TABLE floor_indexed (LIKE autofill_events INCLUDING ALL)",
                        "CREATE TABLE floor_key_only (LIKE autofill_events INCLUDING DEFAULTS)",
                        "ALTER TABLE floor_key_only ADD PRIMARY KEY (event_id)"):
                cur.execute(ddl)
            raw.commit()
            cur.close()
            indexed_wall, indexed_cpu = _copy_in(raw, "floor_indexed", rows)
            key_wall, key_cpu = _copy_in(raw, "floor_key_only", rows)
        finally:
            raw.close()
        engine.dispose()
    finally:
        _drop(admin, name)
    decode_cpu, decoded = _decode_floor(path)

    stored = report.inserted
    cores = os.cpu_count() or 1
    server_us = round(1e6 * indexed_cpu / stored, 2)
    decoder_us = round(1e6 * decode_cpu / decoded, 2)
    floor_us = server_us + decoder_us
    return {
        "lines": lines, "stored": stored, "cores": cores, "workers": worker_count(settings),
        "ingest_seconds": round(ingest_seconds, 2), "ingest_lines_per_second": round(lines / ingest_seconds),
        "copy_bytes": rows.stat().st_size,
        "server_copy_indexed": {"wall_s": round(indexed_wall, 2), "cpu_s": round(indexed_cpu, 2),
                                "cpu_us_per_row": server_us},
        "server_copy_key_only": {"wall_s": round(key_wall, 2), "cpu_s": round(key_cpu, 2),
                                 "cpu_us_per_row": round(1e6 * key_cpu / stored, 2)},
        "decode_only_cpu_us_per_line": decoder_us,
        "floor_cpu_us_per_line": round(floor_us, 2),
        "ceiling_lines_per_second": round(cores * 1e6 / floor_us),
        "target_lines_per_second": TARGET,
        "target_cpu_us_per_line": round(cores * 1e6 / TARGET, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="stylehint-floor-") as tmp:
        r = measure(args.lines, Path(tmp))
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
