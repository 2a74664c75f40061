"""HTTP benchmark of ``stylehint serve`` on PostgreSQL: profile GETs and learning syncs.

    .venv/bin/python benchmarks/bench_api.py                    # 2 workers, 10 s per phase
    .venv/bin/python benchmarks/bench_api.py --workers 1 --seconds 5
    .venv/bin/python benchmarks/bench_api.py --json
    .venv/bin/python benchmarks/bench_api.py --phases sync     # the sync phase only (no snapshot published)

A throwaway database (``--admin-url``) gets a real published snapshot: synthetic events
(``stylehint_assets.synthetic``, seed 7, 30 days) through the asset graph. ``stylehint serve`` then
runs as a subprocess on a free loopback port, and the load comes from another process (this
script in ``--client`` mode: asyncio, keep-alive HTTP/1.1 connections, no third-party client):

- healthz: GETs of ``/healthz`` at the same concurrency, the framework's own ceiling in this run
  (the profile rate is also reported as a ratio to it, which is steadier than either figure on a
  shared machine);
- profile: GETs of the snapshot's forms in turn at ``--concurrency`` (32) connections;
  throughput and p50/p99 latency (targets >= 1,500 requests/s, p99 <= 50 ms);
- sync: POSTs of 50 new events each (fresh event_ids) at ``--sync-concurrency`` (8) connections;
  events stored per second (target >= 10,000 events/s).

Each phase warms up for one second, then runs ``--seconds``; requests are bounded in number and
time. Server, PostgreSQL and load generator share the machine.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pipeline import _machine  # noqa: E402 - the same machine line as the pipeline benchmark

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
END_DAY = date(2025, 3, 30)
TOKEN = "bench-token-" + uuid.uuid4().hex
SYNC = "/api/extension/learning/sync"
PROFILE = "/api/extension/learning/profile"
MAX_REQUESTS = 2_000_000          # a hard bound on any phase, whatever --seconds says


# ------------------------------------------------------------------ load generator (own process)

async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(port: int, requests, start_at: float, stop_at: float, latencies: list, statuses: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            now = time.perf_counter()
            if now >= stop_at:
                break
            writer.write(request)
            status = await _read_response(reader)
            done = time.perf_counter()
            if now >= start_at:           # the first second warms up
                latencies.append(done - now)
                statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def _get(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").encode()


def _post(body: bytes) -> bytes:
    return (f"POST {SYNC} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def _healthz_requests():
    while True:
        yield b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _profile_requests(forms: list[list[str]], offset: int):
    i = offset
    while True:
        host, schema_hash = forms[i % len(forms)]
        yield _get(f"{PROFILE}?{urlencode({'host': host, 'schema_hash': schema_hash})}")
        i += 1


def _sync_requests(connection: int, batch: int):
    from stylehint_assets.synthetic import generate_events

    template = list(generate_events(batch * 20, END_DAY, days=30, seed=11))
    n = 0
    while True:
        events = []
        for j in range(batch):
            event = dict(template[(n * batch + j) % len(template)])
            event["event_id"] = f"bench-{connection}-{n}-{j}"
            events.append(event)
        yield _post(json.dumps({"events": events}).encode())
        n += 1


async def _load(port: int, kind: str, concurrency: int, seconds: float, forms, batch: int) -> dict:
    start_at = time.perf_counter() + 1.0
    stop_at = start_at + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    per = MAX_REQUESTS // concurrency
    tasks = []
    for c in range(concurrency):
        source = {"profile": lambda: _profile_requests(forms, c * 7), "healthz": _healthz_requests,
                  "sync": lambda: _sync_requests(c, batch)}[kind]()
        bounded = (r for _, r in zip(range(per), source))
        tasks.append(_connection(port, bounded, start_at, stop_at, latencies, statuses))
    await asyncio.gather(*tasks)
    elapsed = min(time.perf_counter(), stop_at) - start_at
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    ok = sum(v for s, v in statuses.items() if 200 <= s < 300)
    return {"kind": kind, "concurrency": concurrency, "seconds": round(elapsed, 2), "requests": len(latencies),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "requests_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(q[49] * 1000, 2),
            "p99_ms": round(q[98] * 1000, 2),
            **({"events_per_s": round(ok * batch / elapsed, 1), "batch": batch} if kind == "sync" else {})}


def _client(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=("healthz", "profile", "sync"))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--forms", default="[]")
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--token", required=True)
    a = p.parse_args(argv)
    global TOKEN
    TOKEN = a.token
    result = asyncio.run(_load(a.port, a.kind, a.concurrency, a.seconds, json.loads(a.forms), a.batch))
    print(json.dumps(result))


# ------------------------------------------------------------------ wrk (when installed)

WRK_LUA = r"""
local paths, template, token, batch = {PATHS}, {TEMPLATE}, {TOKEN}, {BATCH}
local threads = {}
local counter, prefix, n = 0, "", 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  prefix = "wrk-" .. args[1] .. "-" .. tostring(id)
  n = id * 7
  wrk.headers["Authorization"] = "Bearer " .. token
end
function request()
  n = n + 1
  if template then
    local body = template:gsub("__N__", prefix .. "-" .. tostring(n))
    return wrk.format("POST", paths[1], {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
  end
  return wrk.format("GET", paths[(n % #paths) + 1])
end
function done(summary, latency, requests)
  io.write(string.format("WRKJSON {\"requests\": %d, \"duration_us\": %d, \"non_2xx\": %d, \"socket_errors\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d}\n", summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def _run_wrk(port: int, kind: str, concurrency: int, seconds: float, forms=None, batch: int = 50) -> dict:
    """The same phase through wrk (C, its own process, two threads): the Python client shares the 2
    cores with the server and becomes part of what is measured. The same requests as ``_load``."""
    import tempfile

    paths = ["/healthz"] if kind == "healthz" else [
        f"{PROFILE}?{urlencode({'host': h, 'schema_hash': sh})}" for h, sh in (forms or [])]
    template = "nil"
    if kind == "sync":
        from stylehint_assets.synthetic import generate_events

        events = [dict(e, event_id=f"__N__-{j}") for j, e in
                  enumerate(generate_events(batch, END_DAY, days=30, seed=11))]
        template = _lua_string(json.dumps({"events": events}))
        paths = [SYNC]
    lua = (WRK_LUA.replace("{PATHS}", "{" + ",".join(_lua_string(x) for x in paths) + "}")
           .replace("{TEMPLATE}", template).replace("{TOKEN}", _lua_string(TOKEN)).replace("{BATCH}", str(batch)))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        # Each run's event ids start with its own nonce (wrk's math.random repeats itself from run to
        # run): the measured syncs are new events, not retries of the warm-up's.
        warm = subprocess.run(["wrk", "-t2", f"-c{concurrency}", "-d1s", "-s", f.name, f"http://127.0.0.1:{port}",
                               "--", uuid.uuid4().hex[:12]], capture_output=True, text=True, timeout=60)
        out = subprocess.run(["wrk", "-t2", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                              "-s", f.name, f"http://127.0.0.1:{port}", "--", uuid.uuid4().hex[:12]],
                             capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(f.name)
    del warm
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON "):])
    elapsed = r["duration_us"] / 1e6
    ok = r["requests"] - r["non_2xx"]
    return {"kind": kind, "client": "wrk", "concurrency": concurrency, "seconds": round(elapsed, 2),
            "requests": r["requests"], "statuses": {"2xx": ok, "other": r["non_2xx"], "socket_errors": r["socket_errors"]},
            "requests_per_s": round(r["requests"] / elapsed, 1), "p50_ms": round(r["p50_us"] / 1000, 2),
            "p99_ms": round(r["p99_us"] / 1000, 2),
            **({"events_per_s": round(ok * batch / elapsed, 1), "batch": batch} if kind == "sync" else {})}


# ------------------------------------------------------------------ orchestration

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _publish(url: str, events: int) -> list[list[str]]:
    import dagster as dg
    from sqlalchemy import select

    from resources import LearningStore
    from stylehint_assets.config import Settings
    from stylehint_assets.definitions import build_definitions
    from stylehint_assets.domain.records import Record
    from stylehint_assets.runner import materialize_as_of
    from stylehint_assets.store.engine import get_engine, upgrade
    from stylehint_assets.ingest import ingest_records
    from stylehint_assets.store.schema import form_profiles
    from stylehint_assets.synthetic import generate_events

    settings = Settings(database_url=url, kpi_min_coverage=0.0, kpi_max_none=1.0, kpi_segment_range=(0.0, 1.0))
    engine = get_engine(url)
    upgrade(engine)
    ingest_records(engine, (Record(i, "", value=e) for i, e in enumerate(generate_events(events, END_DAY, seed=7))),
                   settings=settings, source="bench")
    defs = build_definitions(LearningStore(database_url=url), settings)
    with dg.instance_for_test() as instance:
        materialize_as_of(defs, instance, END_DAY, settings)
    with engine.connect() as conn:
        forms = [[h, s] for h, s in conn.execute(select(form_profiles.c.host, form_profiles.c.schema_hash))]
    engine.dispose()
    return forms


def _schema_only(url: str) -> list[list[str]]:
    """The store's schema and nothing in it: enough for the sync phase."""
    from stylehint_assets.store.engine import get_engine, upgrade

    engine = get_engine(url)
    upgrade(engine)
    engine.dispose()
    return []


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stylehint serve exited: {proc.stderr.read()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("stylehint serve not ready in time")


def _run_client(port: int, kind: str, concurrency: int, seconds: float, forms=None, client: str = "python") -> dict:
    if client == "wrk":
        return _run_wrk(port, kind, concurrency, seconds, forms)
    out = subprocess.run([sys.executable, __file__, "--client", kind, "--port", str(port), "--concurrency",
                          str(concurrency), "--seconds", str(seconds), "--forms", json.dumps(forms or []),
                          "--token", TOKEN], capture_output=True, text=True, timeout=seconds + 120, check=True)
    return {**json.loads(out.stdout), "client": "python"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--client"]:
        _client(argv[1:])
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--sync-concurrency", type=int, default=8)
    p.add_argument("--events", type=int, default=20000, help="synthetic events behind the snapshot")
    p.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    p.add_argument("--json", action="store_true")
    p.add_argument("--phases", default="healthz,profile,sync",
                   help="comma-separated phases to run (healthz, profile, sync); without profile no snapshot is published")
    p.add_argument("--client", dest="load_client", choices=("auto", "wrk", "python"), default="auto",
                   help="load generator: wrk when installed (auto), else this script's asyncio client")
    args = p.parse_args(argv)
    phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    if not phases or set(phases) - {"healthz", "profile", "sync"}:
        p.error(f"--phases: expected some of healthz, profile, sync, got {args.phases!r}")

    from sqlalchemy import create_engine, text

    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    name = f"stylehint_bench_api_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))   # generated identifier
    url = args.admin_url.rsplit("/", 1)[0] + f"/{name}"
    proc = None
    try:
        if "profile" in phases:
            print(f"publishing a snapshot of {args.events:,} synthetic events ...", file=sys.stderr, flush=True)
            forms = _publish(url, args.events)
        else:
            forms = _schema_only(url)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STYLEHINT_", "COMPANION_"))}
        env.update(STYLEHINT_DATABASE_URL=url, STYLEHINT_API_TOKENS=TOKEN)
        proc = subprocess.Popen([sys.executable, "-m", "stylehint_assets.cli", "serve", "--port", str(port),
                                 "--workers", str(args.workers)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_ready(port, proc)
        print(f"{len(forms)} forms; load: profile at {args.concurrency}, sync at {args.sync_concurrency} ...",
              file=sys.stderr, flush=True)
        client = args.load_client
        if client == "auto":
            client = "wrk" if shutil.which("wrk") else "python"
        load_before = os.getloadavg()[0]
        healthz = _run_client(port, "healthz", args.concurrency, args.seconds, client=client) if "healthz" in phases else None
        profile = (_run_client(port, "profile", args.concurrency, args.seconds, forms, client=client)
                   if "profile" in phases else None)
        sync = _run_client(port, "sync", args.sync_concurrency, args.seconds, client=client) if "sync" in phases else None
        load_after = os.getloadavg()[0]
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    result = {"meta": {"machine": _machine(), "workers": args.workers, "forms": len(forms), "client": client,
                       "load_average_1min": [round(load_before, 1), round(load_after, 1)],
                       "measured_at": datetime.utcnow().isoformat(timespec="seconds") + "Z"},
              "healthz": healthz, "profile": profile, "sync": sync,
              "profile_to_healthz": round(profile["requests_per_s"] / healthz["requests_per_s"], 2)
              if profile and healthz else None}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['meta']['machine']}; stylehint serve --workers {args.workers}; {len(forms)} forms; "
          f"load from {client}; load average {load_before:.1f} before, {load_after:.1f} after")
    print("| phase | concurrency | requests/s | p50 | p99 | events/s | statuses | target |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    if healthz:
        print(f"| healthz GET (baseline) | {healthz['concurrency']} | {healthz['requests_per_s']:,.0f} | "
              f"{healthz['p50_ms']} ms | {healthz['p99_ms']} ms | | {healthz['statuses']} | |")
    if profile:
        print(f"| profile GET | {profile['concurrency']} | {profile['requests_per_s']:,.0f} | {profile['p50_ms']} ms | "
              f"{profile['p99_ms']} ms | | {profile['statuses']} | >= 1,500 req/s, p99 <= 50 ms |")
    if sync:
        print(f"| sync POST (50 events) | {sync['concurrency']} | {sync['requests_per_s']:,.0f} | {sync['p50_ms']} ms | "
              f"{sync['p99_ms']} ms | {sync['events_per_s']:,.0f} | {sync['statuses']} | >= 10,000 events/s |")
    if result["profile_to_healthz"] is not None:
        print(f"profile GETs ran at {result['profile_to_healthz']:.2f}x the healthz rate of the same run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
