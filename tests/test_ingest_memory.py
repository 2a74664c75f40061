"""Ingest memory follows the limits, not the input (issue 12): `stylehint ingest` in a child
process, its peak RSS as the operating system counts it (ru_maxrss from wait4, see LAUNCHER).

Slow (hundreds of MB written and read): e2e-marked, so `-m "not e2e"` skips them locally."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

LIMIT_MB = 300
EVENT = {"gen_style_id": "style-x", "feedback_status": "helpful", "created_at": "2025-03-01T10:00:00Z",
         "final_map": {f"#field-{i}": "email" for i in range(40)}, "job": {"title": "x" * 600}}


def _write_events(f, count: int, first: int = 0) -> None:
    for i in range(first, first + count):
        if i > first:
            f.write(b",")
        f.write(json.dumps({**EVENT, "event_id": f"e{i}"}).encode())


# Linux carries a process's peak RSS into the children it forks (a child's ru_maxrss starts at
# the parent's size, and exec keeps it): measured straight from pytest, ingest would inherit the
# test session's peak. So a small launcher process starts ingest and reports that grandchild's
# own peak, as /usr/bin/time -v does.
LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:], stdout=open(sys.argv[1] + ".out", "wb"), stderr=open(sys.argv[1] + ".err", "wb"))
_, status, usage = os.wait4(proc.pid, 0)
json.dump({"rc": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss}, open(sys.argv[1], "w"))
"""


def _peak_ingest(path, tmp_path) -> tuple[float, dict]:
    """(peak RSS in MB, --json report) of one `stylehint ingest` into a fresh SQLite store."""
    measured = tmp_path / "measured.json"
    subprocess.run([sys.executable, "-c", LAUNCHER, str(measured),
                    sys.executable, "-m", "stylehint_assets.cli", "ingest", str(path), "--json"],
                   env={**os.environ, "STYLEHINT_DATABASE_URL": f"sqlite:///{tmp_path}/store.db"}, check=True)
    result = json.loads(measured.read_text())
    assert result["rc"] == 0, (tmp_path / "measured.json.err").read_text()[-500:]
    return result["maxrss_kb"] / 1024, json.loads((tmp_path / "measured.json.out").read_text())


def test_a_300_mb_line_costs_its_limit_not_its_size(tmp_path):
    path = tmp_path / "long-line.ndjson"
    with open(path, "wb") as f:
        f.write(b'{"host": "a.com", "schema_hash": "s", "pad": "')
        chunk = b"x" * (1 << 20)
        for _ in range(300):
            f.write(chunk)
        f.write(b'"}\n{"host": "a.com", "schema_hash": "after"}\n')
    peak, report = _peak_ingest(path, tmp_path)
    assert report["accepted"] == 1 and report["rejected_by_reason"] == {"too_large": 1}
    assert peak <= LIMIT_MB, f"peak RSS {peak:.0f} MB"


def test_a_100_mb_sync_payload_ingests_every_event_within_the_limit(tmp_path):
    path = tmp_path / "payload.json"
    count = 0
    with open(path, "wb") as f:
        f.write(b'{"host": "boards.greenhouse.io", "schema_hash": "big", "events": [')
        while f.tell() < 100 << 20:
            _write_events(f, 1000, count)
            count += 1000
            f.write(b",")
        _write_events(f, 1, count)
        count += 1
        f.write(b"]}\n")
    peak, report = _peak_ingest(path, tmp_path)
    assert report["accepted"] == count and report["rejected"] == 0
    assert peak <= LIMIT_MB, f"peak RSS {peak:.0f} MB"


def test_a_broken_first_line_never_buffers_the_file(tmp_path):
    path = tmp_path / "broken-first.ndjson"
    count = 0
    with open(path, "wb") as f:
        f.write(b'{"host": "a.com", "schema_hash": "broken",\n')
        base = {"host": "boards.greenhouse.io", "schema_hash": "f", **EVENT}
        while f.tell() < 50 << 20:
            f.write(b"".join(json.dumps({**base, "event_id": f"v{count + i}"}).encode() + b"\n" for i in range(1000)))
            count += 1000
    peak, report = _peak_ingest(path, tmp_path)
    assert report["accepted"] == count and report["rejected_by_reason"] == {"bad_json": 1}
    assert peak <= LIMIT_MB, f"peak RSS {peak:.0f} MB"


def test_records_near_the_record_limit_stay_within_the_limit(tmp_path):
    """200 valid records of almost 1 MiB each: a batch is bounded by bytes, not only by count."""
    path = tmp_path / "big-records.ndjson"
    with open(path, "wb") as f:
        for i in range(200):
            f.write(json.dumps({"host": "a.com", "schema_hash": "s", "event_id": f"b{i}",
                                "job": {"title": "t" * ((1 << 20) - 200)}}).encode() + b"\n")
    peak, report = _peak_ingest(path, tmp_path)
    assert report["accepted"] == 200
    assert peak <= LIMIT_MB, f"peak RSS {peak:.0f} MB"


def test_ingest_peak_does_not_grow_with_the_input(tmp_path):
    """Real-shape events (a new form per ten events): five times the lines, the same peak RSS
    within 20 % (it is bounded by the batch, not by the forms, hosts or ids seen so far)."""
    from datetime import date

    from stylehint_assets.synthetic import generate_ndjson_lines, make_real_world, write_ndjson

    peaks = []
    for n in (20_000, 100_000):
        path = tmp_path / f"real-{n}.ndjson"
        write_ndjson(str(path), generate_ndjson_lines(n, date(2025, 3, 30), days=30, seed=7,
                                                      world=make_real_world(n, seed=7)))
        run = tmp_path / f"run-{n}"
        run.mkdir()
        peak, report = _peak_ingest(path, run)
        assert report["accepted"] == n
        peaks.append(peak)
        path.unlink()
    assert peaks[1] <= 1.2 * peaks[0] and peaks[1] <= LIMIT_MB, f"peak RSS {peaks[0]:.0f} MB -> {peaks[1]:.0f} MB"


# Polls the peaks of `stylehint ingest` and of its decoding workers (VmHWM, the kernel's count)
# while they run: a worker has exited, and its peak gone with it, by the time ingest returns.
POLLER = """
import json, os, subprocess, sys, time
proc = subprocess.Popen(sys.argv[2:], stdout=open(sys.argv[1] + ".out", "wb"), stderr=open(sys.argv[1] + ".err", "wb"))
peaks = {}
def status(pid):
    try:
        return dict(l.split(":", 1) for l in open(f"/proc/{pid}/status") if ":" in l)
    except OSError:
        return {}
def cmdline(pid):   # a decoding worker, not multiprocessing's resource tracker
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return b""
while proc.poll() is None:
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = status(name)
            worker = fields.get("PPid", "").strip() == str(proc.pid) and b"spawn_main" in cmdline(name)
            if (int(name) == proc.pid or worker) and "VmHWM" in fields:
                peaks[int(name)] = max(peaks.get(int(name), 0), int(fields["VmHWM"].split()[0]))
    time.sleep(0.05)
ingest = peaks.pop(proc.pid, 0)
json.dump({"rc": proc.returncode, "ingest_kb": ingest, "workers_kb": sorted(peaks.values())}, open(sys.argv[1], "w"))
"""


# The ingest itself, as `stylehint ingest` runs it for a regular file (the command then reports
# the days to the Dagster instance, a fixed cost that is not the ingest's).
INGEST_FILE = """
import json, sys
from stylehint_assets.config import Settings
from stylehint_assets.ingest_parallel import ingest_file
from stylehint_assets.store.engine import get_engine
url, path = sys.argv[1:]
with open(path, "rb") as stream:
    report = ingest_file(get_engine(url), stream, settings=Settings(database_url=url, ingest_workers=2), source=path)
print(json.dumps({"accepted": report.accepted}))
"""


@pytest.mark.postgres
def test_parallel_ingest_peaks_do_not_grow_with_the_input(tmp_path, pg_database_url):
    """The same on PostgreSQL, with the file decoded by two worker processes: five times the
    lines, the same peak within 20 % for the ingest process and for each worker."""
    from datetime import date

    from stylehint_assets.store.engine import get_engine
    from stylehint_assets.synthetic import generate_ndjson_lines, make_real_world, write_ndjson

    from .conftest import _reset

    peaks = []
    for n in (20_000, 100_000):
        _reset(get_engine(pg_database_url))
        path = tmp_path / f"real-{n}.ndjson"
        write_ndjson(str(path), generate_ndjson_lines(n, date(2025, 3, 30), days=30, seed=7,
                                                      world=make_real_world(n, seed=7)))
        measured = tmp_path / f"measured-{n}.json"
        subprocess.run([sys.executable, "-c", POLLER, str(measured), sys.executable, "-c", INGEST_FILE,
                        pg_database_url, str(path)], check=True)
        result = json.loads(measured.read_text())
        assert result["rc"] == 0, (tmp_path / f"measured-{n}.json.err").read_text()[-500:]
        assert json.loads((tmp_path / f"measured-{n}.json.out").read_text())["accepted"] == n
        assert len(result["workers_kb"]) == 2, result     # the file really was decoded in workers
        peaks.append((result["ingest_kb"] / 1024, max(result["workers_kb"]) / 1024))
        path.unlink()
    print("peak RSS (ingest, worker) MB at 20k and 100k lines:", peaks)
    (ingest_small, workers_small), (ingest_large, workers_large) = peaks
    assert ingest_large <= 1.2 * ingest_small and ingest_large <= LIMIT_MB, peaks
    assert workers_large <= 1.2 * workers_small, peaks


def test_the_cli_module_leaves_pandas_to_the_commands_that_print_tables():
    """`stylehint ingest`'s decoding workers are spawned, so each imports the main module, the
    CLI: with pandas imported there a worker peaked at 135 MB instead of 89-92 MB."""
    probe = "import sys, stylehint_assets.cli; print(sorted(m for m in ('pandas', 'numpy', 'dagster') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
