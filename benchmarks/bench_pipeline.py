"""Pipeline benchmark on PostgreSQL: ingest, cold snapshot and six-hourly run, each against one
plain GROUP BY scan of the same 30-day window measured in the same run.

    .venv/bin/python benchmarks/bench_pipeline.py                       # 100k and 1M real-shape events
    .venv/bin/python benchmarks/bench_pipeline.py --sizes 100000 --world fixed   # the demo's small world
    .venv/bin/python benchmarks/bench_pipeline.py --json                # the same figures as one JSON object

For each size: deterministic events (``stylehint_assets.synthetic``, seed 7, 30 days ending
``--end-day``; by default the real-shape world, whose forms grow with the events, so every row
prints its profile count) are written to NDJSON, then, each in a fresh subprocess whose peak RSS is
recorded: ``ingest`` (decode + validate + store, what ``stylehint ingest`` does); ``snapshot``
(``materialize_as_of``: every asset for the end day over 30 days of history, through Dagster);
``six-hourly`` (one more day's events ingested, then the ``publish_style_hints`` job for that
newest partition, which aggregates the new day and derives the window snapshots from the day before's); ``exporter`` (``stylehint metrics serve``
on the resulting store, scraped five times, its peak RSS read from /proc). The scan
baseline is the median of three runs of one ``SELECT ... GROUP BY host, schema_hash,
gen_style_id`` over the window, on stylehint's session settings (the stricter baseline: JIT off
makes it faster); the same scan on a plain session is reported beside it. Without
``--database-url`` a throwaway database is created on the local server (``--admin-url``) and
dropped afterwards. The KPI gates are opened so that the
synthetic distribution can never block the publish being timed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_SIZES = "100000,1000000"
NEAR_EMPTY = 1000   # the six-hourly run on a store this small is the fixed cost (Dagster, the process, checks)
END_DAY = date(2025, 3, 30)
SCAN_SQL = """
SELECT host, schema_hash, gen_style_id, count(*) AS runs,
       sum(CASE WHEN feedback_status = 'helpful' THEN 1 ELSE 0 END) AS helpful,
       sum(CASE WHEN feedback_status = 'unhelpful' THEN 1 ELSE 0 END) AS unhelpful,
       sum(effective_edit_chars) AS edit_sum, count(effective_edit_chars) AS edit_count
FROM autofill_events
WHERE event_day BETWEEN %(start)s AND %(end)s
GROUP BY host, schema_hash, gen_style_id
"""


def _generator(world: str):
    """Lines for n events over ``days``: the real-shape world sized for the window's events (the
    next day's events come from the same world), or the small fixed world of the demo."""
    from stylehint_assets.synthetic import generate_ndjson_lines, make_real_world, write_ndjson

    def lines(n: int, window_events: int, end_day: date, days: int, seed: int):
        shape = make_real_world(window_events, seed=7) if world == "real" else None
        return generate_ndjson_lines(n, end_day, days=days, seed=seed, world=shape)

    label = ("real-shape world (make_real_world, ~1 form per 10 events)" if world == "real"
             else "fixed world (make_world, ~400 forms)")
    return lines, write_ndjson, f"stylehint_assets.synthetic {label}, seed 7; next day seed 8"


def _settings(url: str):
    from stylehint_assets.config import Settings
    return Settings(database_url=url, kpi_min_coverage=0.0, kpi_max_none=1.0, kpi_segment_range=(0.0, 1.0))


def _peak_mb() -> float:
    """This process's peak RSS as the kernel counts it (VmHWM). Not ``ru_maxrss``: Linux carries
    that across fork and exec, so a worker would report the orchestrator's peak when larger."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- subprocess phases


def _children_peak_mb(stop: threading.Event, peaks: dict[int, float]) -> None:
    """Poll the VmHWM of this process's children (the ingest's decoding workers) until ``stop``."""
    me = str(os.getpid())
    while not stop.wait(0.2):
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            except OSError:
                continue
            if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
                pid = int(status.parent.name)
                try:
                    if b"spawn_main" not in (status.parent / "cmdline").read_bytes():
                        continue   # multiprocessing's resource tracker, not a worker
                except OSError:
                    continue
                peaks[pid] = max(peaks.get(pid, 0.0), int(fields["VmHWM"].split()[0]) / 1024.0)


def _phase_ingest(args) -> dict:
    from stylehint_assets.store.engine import get_engine, upgrade
    from stylehint_assets.ingest_parallel import ingest_file, worker_count

    engine = get_engine(args.database_url)
    upgrade(engine)
    settings = _settings(args.database_url)
    stop, peaks = threading.Event(), {}
    watcher = threading.Thread(target=_children_peak_mb, args=(stop, peaks), daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    with open(args.path, "rb") as fh:   # as ``stylehint ingest PATH`` does
        report = ingest_file(engine, fh, settings=settings, received_at=datetime.fromisoformat(args.received_at),
                             source="bench")
    seconds = time.perf_counter() - t0
    stop.set()
    watcher.join()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"seconds": seconds, "accepted": report.accepted, "rejected": report.rejected,
            "inserted": report.inserted, "workers": len(peaks), "configured_workers": worker_count(settings),
            "worker_peak_rss_mb": max(peaks.values(), default=0.0),
            "worker_cpu_seconds": children.ru_utime + children.ru_stime}


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    return {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in instance.get_run_step_stats(run_id)}


def _phase_run(args) -> dict:
    import dagster as dg

    from resources import LearningStore
    from stylehint_assets.definitions import build_definitions
    from stylehint_assets.runner import QUIET, materialize_as_of

    settings = _settings(args.database_url)
    defs = build_definitions(LearningStore(database_url=args.database_url), settings)
    day = date.fromisoformat(args.day)
    with dg.DagsterInstance.local_temp(tempdir=args.dagster_home) as instance:
        t0 = time.perf_counter()
        if args.phase == "snapshot":
            run_ids = materialize_as_of(defs, instance, day, settings).run_ids
        else:
            result = defs.resolve_job_def("publish_style_hints").execute_in_process(
                partition_key=day.isoformat(), instance=instance, run_config=QUIET, raise_on_error=True)
            run_ids = (result.run_id,)
        seconds = time.perf_counter() - t0
        steps = {k: round(v, 3) for r in run_ids for k, v in _step_seconds(instance, r).items()}
    return {"seconds": seconds, "step_seconds": sum(steps.values()), "runs": len(run_ids), "steps": steps}


def _worker(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("phase", choices=("ingest", "snapshot", "six-hourly"))
    p.add_argument("--database-url", required=True)
    p.add_argument("--path")
    p.add_argument("--received-at")
    p.add_argument("--day")
    p.add_argument("--dagster-home")
    p.add_argument("--profile", help="write a pyinstrument HTML profile here")
    args = p.parse_args(argv)
    profiler = None
    if args.profile:
        from pyinstrument import Profiler
        profiler = Profiler()
        profiler.start()
    out = _phase_ingest(args) if args.phase == "ingest" else _phase_run(args)
    if profiler:
        profiler.stop()
        Path(args.profile).write_text(profiler.output_text(unicode=True, show_all=False))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["process_cpu_seconds"] = usage.ru_utime + usage.ru_stime  # includes imports; the machine is shared
    out["peak_rss_mb"] = _peak_mb()
    print("BENCH-RESULT " + json.dumps(out))


def _run_phase(*argv: str, profile_dir: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", *argv]
    if profile_dir:
        cmd += ["--profile", str(Path(profile_dir) / f"{argv[0]}.txt")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    raise SystemExit(f"phase {argv[0]} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM")


def _phase_exporter(url: str, scrapes: int = 5) -> dict:
    """``stylehint metrics serve`` as the operator runs it: scraped ``scrapes`` times, then its
    peak RSS read from /proc before it is stopped."""
    import urllib.request

    port = _free_port()
    exe = Path(sys.executable).with_name("stylehint")
    proc = subprocess.Popen([str(exe), "metrics", "serve", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, "STYLEHINT_DATABASE_URL": url},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, t = time.monotonic() + 60, []
        while True:
            try:
                t0 = time.perf_counter()
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read()
                t.append(time.perf_counter() - t0)
                if len(t) == scrapes:
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"exporter failed: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
        return {"scrape_seconds": round(min(t), 4), "bytes": len(body), "peak_rss_mb": _vm_hwm_mb(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ---------------------------------------------------------------- orchestration


def _scan_seconds(url: str, start: date, end: date, repeats: int = 3, server_defaults: bool = False) -> float:
    """Median of ``repeats`` scans, on stylehint's own session settings (what the pipeline's
    queries get) or, with ``server_defaults``, on a plain session (JIT as the server has it)."""
    from sqlalchemy import create_engine
    from stylehint_assets.store.engine import get_engine

    engine = create_engine(url, connect_args={"options": ""}) if server_defaults else get_engine(url)
    times = []
    with engine.connect() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        for _ in range(repeats):
            t0 = time.perf_counter()
            cur.execute(SCAN_SQL, {"start": start, "end": end})
            cur.fetchall()
            times.append(time.perf_counter() - t0)
        cur.close()
    if server_defaults:
        engine.dispose()
    return statistics.median(times)


def _analyze(url: str) -> None:
    from sqlalchemy import text
    from stylehint_assets.store.engine import get_engine

    with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def _profiles(url: str, as_of: date) -> int:
    from sqlalchemy import func, select
    from stylehint_assets.store.engine import get_engine
    from stylehint_assets.store.schema import form_profile_snapshots as fps

    with get_engine(url).connect() as conn:
        return conn.execute(select(func.count()).where(fps.c.as_of == as_of)).scalar_one()


def _store_mb(url: str) -> float:
    from sqlalchemy import text
    from stylehint_assets.store.engine import get_engine

    with get_engine(url).connect() as conn:
        return conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 2**20


def bench_size(n: int, url: str, workdir: Path, end_day: date, profile_dir: str | None, world: str) -> dict:
    generate_events, write_ndjson, _ = _generator(world)
    events_path, next_path = workdir / f"events-{n}.ndjson", workdir / f"next-{n}.ndjson"
    t0 = time.perf_counter()
    write_ndjson(events_path, generate_events(n, n, end_day, 30, 7))
    next_day = end_day + timedelta(days=1)
    write_ndjson(next_path, generate_events(max(1, n // 30), n, next_day, 1, 8))
    generated = time.perf_counter() - t0
    home = workdir / f"dagster-{n}"
    home.mkdir()
    prof = None
    if profile_dir:
        prof = Path(profile_dir) / str(n)
        prof.mkdir(parents=True, exist_ok=True)

    ingest = _run_phase("ingest", "--database-url", url, "--path", str(events_path),
                        "--received-at", f"{end_day + timedelta(days=1)}T00:00:00", profile_dir=prof)
    _analyze(url)
    scan = _scan_seconds(url, end_day - timedelta(days=29), end_day)
    plain_scan = _scan_seconds(url, end_day - timedelta(days=29), end_day, server_defaults=True)
    snapshot = _run_phase("snapshot", "--database-url", url, "--day", end_day.isoformat(),
                          "--dagster-home", str(home), profile_dir=prof)
    profiles = _profiles(url, end_day)
    store_before = _store_mb(url)
    next_ingest = _run_phase("ingest", "--database-url", url, "--path", str(next_path),
                             "--received-at", f"{next_day + timedelta(days=1)}T00:00:00")
    six = _run_phase("six-hourly", "--database-url", url, "--day", next_day.isoformat(),
                     "--dagster-home", str(home), profile_dir=prof)
    scan_after = _scan_seconds(url, next_day - timedelta(days=29), next_day)
    store_after = _store_mb(url)
    exporter = _phase_exporter(url)
    return {
        "events": n,
        "profiles": profiles,
        "profiles_after_new_day": _profiles(url, next_day),
        "store_mb": round(store_after, 1),
        "store_mb_per_snapshot_day": round(store_after - store_before, 2),
        "generate_seconds": round(generated, 2),
        "scan_seconds": round(scan, 4),
        "scan_seconds_server_defaults": round(plain_scan, 4),
        "scan_seconds_after_new_day": round(scan_after, 4),
        "ingest": {**ingest, "events_per_second": round(ingest["accepted"] / ingest["seconds"]),
                   "x_scan": round(ingest["seconds"] / scan, 2)},
        "snapshot": {**snapshot, "x_scan": round(snapshot["seconds"] / scan, 2),
                     "dagster_overhead_seconds": round(snapshot["seconds"] - snapshot["step_seconds"], 2)},
        "next_day_ingest": next_ingest,
        "six_hourly": {**six, "x_scan": round(six["seconds"] / scan_after, 2),
                       "dagster_overhead_seconds": round(six["seconds"] - six["step_seconds"], 2)},
        "exporter": exporter,
        "peak_rss_mb": round(max(ingest["peak_rss_mb"], ingest.get("worker_peak_rss_mb", 0), snapshot["peak_rss_mb"],
                                 six["peak_rss_mb"], exporter["peak_rss_mb"]), 1),
    }


def _workers(ingest: dict) -> str:
    """The ingest's decoding workers and their largest peak, when it had any."""
    peak = ingest.get("worker_peak_rss_mb") or 0
    return f" (+{ingest['workers']} workers ≤ {peak:.0f})" if peak else ""


def _table(results: list[dict], meta: dict) -> str:
    head = ("| events | profiles | GROUP BY scan (plain session) | ingest | cold snapshot (Dagster overhead) | six-hourly run (Dagster overhead)"
            " | peak RSS ingest / snapshot / six-hourly / exporter |")
    lines = [head, "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        i, s, h = r["ingest"], r["snapshot"], r["six_hourly"]
        lines.append(
            f"| {r['events']:,} | {r['profiles']:,} | {r['scan_seconds']:.3f} s ({r['scan_seconds_server_defaults']:.3f} s) | {i['events_per_second']:,}/s ({i['seconds']:.1f} s, "
            f"{i['x_scan']:.0f}× scan) | {s['seconds']:.2f} s = {s['x_scan']:.1f}× scan "
            f"({s['dagster_overhead_seconds']:.2f} s) | {h['seconds']:.2f} s = {h['x_scan']:.1f}× scan "
            f"({h['dagster_overhead_seconds']:.2f} s) | {i['peak_rss_mb']:.0f}{_workers(i)} / {s['peak_rss_mb']:.0f} / "
            f"{h['peak_rss_mb']:.0f} / {r['exporter']['peak_rss_mb']:.0f} MB |")
    lines.append(f"\n{meta['machine']}; events from {meta['generator']}, 30 days ending {meta['end_day']}.")
    lines.append(_targets(results))
    return "\n".join(lines)


def _targets(results: list[dict]) -> str:
    """The six-hourly targets: at most the near-empty store's run + 1× the scan; at most 1.3× its own time
    at the size ten times smaller."""
    by_n = {r["events"]: r for r in results}
    base = by_n.get(NEAR_EMPTY)
    lines = []
    for r in results:
        if r["events"] == NEAR_EMPTY:
            continue
        six = r["six_hourly"]["seconds"]
        parts = [f"{r['events']:,} events: six-hourly {six:.2f} s"]
        if base:
            extra = six - base["six_hourly"]["seconds"]
            parts.append(f"{extra:.2f} s above the near-empty store's {base['six_hourly']['seconds']:.2f} s "
                         f"= {extra / r['scan_seconds_after_new_day']:.2f}× scan (target ≤ 1)")
        smaller = by_n.get(r["events"] // 10)
        if smaller and smaller["events"] != NEAR_EMPTY:
            parts.append(f"{six / smaller['six_hourly']['seconds']:.2f}× the run at {smaller['events']:,} (target ≤ 1.3)")
        lines.append("; ".join(parts))
    return "\n".join(lines)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores {cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker(argv[1:])
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated event counts (default {DEFAULT_SIZES})")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object instead of the table")
    p.add_argument("--database-url", help="an existing, empty PostgreSQL database (default: a throwaway one)")
    p.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="server where the throwaway databases are made")
    p.add_argument("--end-day", type=date.fromisoformat, default=END_DAY)
    p.add_argument("--world", choices=("real", "fixed"), default="real",
                   help="real: forms grow with the events, long-tailed (default); fixed: the demo's ~400 forms")
    p.add_argument("--no-near-empty", action="store_true",
                   help=f"skip the {NEAR_EMPTY:,}-event store whose six-hourly run the targets compare against")
    p.add_argument("--profile-dir", help="write pyinstrument profiles of each phase here (needs pyinstrument)")
    args = p.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if not args.no_near_empty and NEAR_EMPTY not in sizes:
        sizes.insert(0, NEAR_EMPTY)

    from sqlalchemy import create_engine, text
    from stylehint_assets.store.engine import get_engine
    from stylehint_assets.store.schema import metadata

    results = []
    with tempfile.TemporaryDirectory(prefix="stylehint-bench-") as tmp:
        for n in sizes:
            if args.database_url:
                url = args.database_url
                metadata.drop_all(get_engine(url))
                admin, name = None, None
            else:
                admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
                name = f"stylehint_bench_{uuid.uuid4().hex[:8]}"
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))  # generated identifier
                url = args.admin_url.rsplit("/", 1)[0] + f"/{name}"
            try:
                print(f"benchmarking {n:,} events ...", file=sys.stderr, flush=True)
                results.append(bench_size(n, url, Path(tmp), args.end_day, args.profile_dir, args.world))
            finally:
                get_engine(url).dispose()
                if admin is not None:
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    admin.dispose()
    meta = {"machine": _machine(), "generator": _generator(args.world)[2], "end_day": args.end_day.isoformat(),
            "measured_at": datetime.utcnow().isoformat(timespec="seconds") + "Z"}
    if args.json:
        print(json.dumps({"meta": meta, "results": results, "targets": _targets(results)}, indent=2))
    else:
        print(_table(results, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
