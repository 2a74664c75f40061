"""Ingest benchmark on PostgreSQL: lines/s and peak RSS of `stylehint ingest` at each size.

    .venv/bin/python benchmarks/bench_ingest.py                                  # 100k and 1M lines
    .venv/bin/python benchmarks/bench_ingest.py --sizes 100000 --driver psycopg  # psycopg 3
    .venv/bin/python benchmarks/bench_ingest.py --profile 100000                 # cProfile, top 25
    .venv/bin/python benchmarks/bench_ingest.py --sizes 100000 --code . --code /tmp/base --repeat 2  # A/B

Events are ``stylehint_assets.synthetic`` NDJSON (seed 7, 30 days) of the real-shape world
(``make_real_world``; ``--world fixed`` for the demo's ~400 forms). Each size ingests into a
fresh throwaway database, as `stylehint ingest FILE` in a child process run under
``/usr/bin/time``, whose peak RSS is that process's own (a child's ``ru_maxrss`` from wait4
would start from the generating parent's). With several ``--code`` trees the runs alternate
(A, B, A, B ...), so an A/B shares the machine's load; figures of one run are comparable,
across runs on a shared machine expect noise.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN = "postgresql+{driver}://postgres@127.0.0.1:5432/postgres"
END_DAY = date(2025, 3, 30)


def _write(path: Path, n: int, world: str) -> None:
    from stylehint_assets.synthetic import generate_ndjson_lines, make_real_world, write_ndjson

    shape = make_real_world(n, seed=7) if world == "real" else None
    write_ndjson(str(path), generate_ndjson_lines(n, END_DAY, days=30, seed=7, world=shape))


def _database(driver: str):
    admin = create_engine(ADMIN.format(driver="psycopg2"), isolation_level="AUTOCOMMIT")
    name = f"stylehint_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))   # a generated identifier, not input
    return admin, name, ADMIN.format(driver=driver).rsplit("/", 1)[0] + f"/{name}"


def _drop(admin, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _ingest(path: Path, url: str, code: Path) -> dict:
    env = {**os.environ, "STYLEHINT_DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "stylehint_assets.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True, cwd=code)
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as peak:
        t0 = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-o", peak.name, "-f", "%M %U %S", sys.executable, "-m",
                                 "stylehint_assets.cli", "ingest", str(path), "--json"],
                                env=env, stdout=out, stderr=subprocess.DEVNULL, cwd=code)
        status = proc.wait()
        seconds = time.perf_counter() - t0
        out.seek(0)
        report = json.loads(out.read())
        kb, user, system = peak.read().split()[-3:]
    assert status == 0
    return {"seconds": round(seconds, 2), "lines_per_s": round(report["accepted"] / seconds),
            "peak_rss_mb": round(int(kb) / 1024), "cpu_s": round(float(user) + float(system), 2),
            "accepted": report["accepted"], "load_avg_1m": os.getloadavg()[0]}


def _profile(path: Path, url: str) -> None:
    from stylehint_assets.domain.records import read_records
    from stylehint_assets.ingest import ingest_records
    from stylehint_assets.store.engine import get_engine, upgrade

    engine = get_engine(url)
    upgrade(engine)
    profiler = cProfile.Profile()
    with open(path, "rb") as fh:
        profiler.enable()
        ingest_records(engine, read_records(fh), source="bench")
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--driver", default="psycopg2", choices=("psycopg2", "psycopg"))
    parser.add_argument("--world", default="real", choices=("real", "fixed"))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each code tree, alternating")
    parser.add_argument("--keep", type=Path, help="keep the generated files in this directory (reused when present)")
    parser.add_argument("--profile", type=int, help="profile one in-process ingest of this many lines instead")
    parser.add_argument("--code", action="append", type=Path,
                        help="a source tree to run (repeatable: an A/B of two checkouts on the same files)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in [args.profile] if args.profile else [int(s) for s in args.sizes.split(",")]:
            path = (args.keep or Path(tmp)) / f"events-{args.world}-{n}.ndjson"
            if not path.exists():
                _write(path, n, args.world)
            for code in [None] if args.profile else (args.code or [ROOT]) * args.repeat:
                admin, name, url = _database(args.driver)
                try:
                    if code is None:
                        _profile(path, url)
                    else:
                        print(json.dumps({"lines": n, "world": args.world, "driver": args.driver, "bytes": path.stat().st_size,
                                          "code": str(code), **_ingest(path, url, code)}), flush=True)
                finally:
                    _drop(admin, name)


if __name__ == "__main__":
    main()
