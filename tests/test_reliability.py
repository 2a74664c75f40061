"""Nothing lost through bad timing (PostgreSQL, real processes): a publish killed mid-transaction,
two runs of one partition at once, a run during ingestion, the database going away mid-run;
and no secret in files, logs or metadata, services bound to loopback by default."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from stylehint_assets.cli import build_parser
from stylehint_assets.config import Settings
from stylehint_assets.store.counters import read_counters
from stylehint_assets.store.engine import get_engine
from stylehint_assets.store.schema import (
    daily_event_partials, daily_field_map_counts, family_style_stats, form_profile_snapshots, form_style_stats,
    publish_state, segment_style_stats, style_hints,
)

from .conftest import _reset
from .graph_helpers import ingest_events, served, snapshot, table_rows

ROOT = Path(__file__).resolve().parent.parent
D = date(2025, 3, 31)
GH, LV = "boards.greenhouse.io", "jobs.lever.co"
OPEN_GATES = {"STYLEHINT_KPI_MIN_COVERAGE": "0", "STYLEHINT_KPI_MAX_NONE": "1", "STYLEHINT_KPI_SEGMENT_RANGE": "0-1"}


@pytest.fixture
def pg(pg_database_url):
    """An empty PostgreSQL store, and settings pointing at it with the KPI gates open."""
    engine = get_engine(pg_database_url)
    _reset(engine)
    return engine, Settings(database_url=pg_database_url, kpi_min_coverage=0.0, kpi_max_none=1.0,
                            kpi_segment_range=(0.0, 1.0))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def events(n, host, schema, style, day=D, prefix="e", helpful_every=2, title="Senior Engineer"):
    return [{"event_id": f"{prefix}-{host}-{schema}-{day}-{i}", "host": host, "schema_hash": schema,
             "created_at": f"{day}T10:00:00Z", "gen_style_id": style, "job": {"title": title},
             "feedback_status": "helpful" if i % helpful_every == 0 else "unhelpful", "edit_chars": i % 7,
             "final_map": {"#email": "email", "#n": "name"}} for i in range(n)]


def cli(url, home, *args, env_extra=None) -> subprocess.Popen:
    Path(home).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "STYLEHINT_DATABASE_URL": url, "DAGSTER_HOME": str(home), **OPEN_GATES, **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "stylehint_assets.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_backend(engine, query_prefix: str, timeout=180.0, proc=None) -> int:
    """pid of a backend of this database blocked on a lock while running ``query_prefix``."""
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            pid = conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND wait_event_type = 'Lock' AND query LIKE :q"), {"q": query_prefix + "%"}).scalar()
            if pid:
                return pid
            if proc is not None and proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"process ended before blocking on {query_prefix!r}: {proc.returncode}\n{out}\n{err}")
            conn.rollback()
            time.sleep(0.2)
    pytest.fail(f"no backend blocked on {query_prefix!r} within {timeout}s")


def snapshot_tables(engine, as_of):
    return {t.name: table_rows(engine, t, as_of) for t in
            (form_style_stats, segment_style_stats, family_style_stats, form_profile_snapshots, style_hints)} | {
        t.name: table_rows(engine, t) for t in (daily_event_partials, daily_field_map_counts)}


def counters(engine):
    with engine.connect() as conn:
        return sorted((n, sorted(l.items()), v) for n, l, v in read_counters(conn))


@pytest.mark.postgres
def test_publish_killed_mid_transaction_leaves_previous_snapshot_served(pg, instance, tmp_path):
    engine, settings = pg
    ingest_events(engine, settings, events(6, GH, "a", "narrative") + events(6, LV, "b", "bullets"))
    snapshot(instance, settings, D)
    before, counted = served(engine), counters(engine)
    assert {r["as_of"] for r in before.values()} == {D}
    nxt = D + timedelta(days=1)
    ingest_events(engine, settings, events(8, GH, "a", "bullets", day=nxt, prefix="n") + events(5, GH, "c", "x", day=nxt))
    counted = counters(engine)

    # Hold the counter rows: the publish of the real run (a `stylehint materialize` process) then
    # blocks inside its transaction after replacing form_profiles, and is killed right there.
    with engine.connect() as blocker:
        blocker.execute(text("SELECT * FROM metric_counters FOR UPDATE"))
        proc = cli(settings.database_url, tmp_path / "dagster", "materialize", "--as-of", nxt.isoformat())
        try:
            pid = wait_for_backend(engine, "INSERT INTO metric_counters", proc=proc)
            assert served(engine) == before                  # readers keep the old snapshot meanwhile
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            blocker.rollback()
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).scalar():
            assert time.monotonic() < deadline, "the killed run's backend never went away"
            conn.rollback()
            time.sleep(0.2)

    assert served(engine) == before                          # intact: same rows, same as_of
    with engine.connect() as conn:
        assert conn.execute(select(publish_state.c.as_of)).scalar() == D
    assert counters(engine) == counted                        # the aborted publish counted nothing

    snapshot(instance, settings, nxt)                         # the next run completes the publish
    after = served(engine)
    assert {r["as_of"] for r in after.values()} == {nxt} and (GH, "c") in after
    choices = sum(v for n, _, v in counters(engine) if n == "applylens_autofill_style_choice_total")
    assert choices == sum(v for n, _, v in counted if n == "applylens_autofill_style_choice_total") + len(after)


@pytest.mark.postgres
def test_two_runs_of_one_partition_at_once_equal_one_after_the_other(pg, instance, tmp_path):
    engine, settings = pg
    ingest_events(engine, settings, [*events(40, GH, "a", "narrative"), *events(30, GH, "b", "bullets"),
                                     *events(25, LV, "c", "x", day=D - timedelta(days=3)),
                                     *events(12, "acme.com", "d", "y", day=D - timedelta(days=10))])
    procs = [cli(settings.database_url, tmp_path / f"dagster{i}", "materialize", "--as-of", D.isoformat())
             for i in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    concurrent = snapshot_tables(engine, D)
    assert sum(r["runs"] for r in concurrent["daily_event_partials"]) == 107    # no partial written twice

    snapshot(instance, settings, D)                                              # one more, alone
    assert snapshot_tables(engine, D) == concurrent
    assert {r["as_of"] for r in served(engine).values()} == {D}


@pytest.mark.postgres
def test_a_run_during_ingestion_sees_whole_batches_and_the_next_run_sees_all(pg, instance, tmp_path):
    engine, settings = pg
    from dataclasses import replace

    small = replace(settings, ingest_batch_size=50)
    ingest_events(engine, small, events(50, GH, "a", "narrative", prefix="seed"))
    proc = cli(settings.database_url, tmp_path / "dagster", "materialize", "--as-of", D.isoformat())
    batches = 0
    while proc.poll() is None:                              # keep ingesting for as long as the run lasts
        ingest_events(engine, small, events(50, GH, "a", "narrative", prefix=f"b{batches}"))
        batches += 1
        time.sleep(0.05)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert batches > 0
    total = 50 * (batches + 1)

    [stats] = table_rows(engine, form_style_stats, D)
    [profile] = table_rows(engine, form_profile_snapshots, D)
    assert stats["total_runs"] % 50 == 0 and stats["total_runs"] == profile["runs"] <= total   # whole batches, consistent
    snapshot(instance, settings, D)
    [stats] = table_rows(engine, form_style_stats, D)
    assert stats["total_runs"] == total                     # nothing lost: the next run folds in the rest


@pytest.mark.postgres
def test_database_going_away_mid_run_retries_then_fails_clearly(pg, tmp_path):
    engine, settings = pg
    ingest_events(engine, settings, events(6, GH, "a", "narrative"))

    def run_with_terminations(times: int, home: Path):
        """Block the run's form_style_stats step on a table lock, terminate its backend ``times``
        times (pg_terminate_backend), then let it go on."""
        proc = cli(settings.database_url, home, "materialize", "--as-of", D.isoformat())
        killed = 0
        try:
            while killed < times:
                with engine.connect() as blocker:
                    blocker.execute(text("LOCK TABLE form_style_stats IN ACCESS EXCLUSIVE MODE"))
                    pid = wait_for_backend(engine, "DELETE FROM form_style_stats", proc=proc)
                    with engine.connect() as admin:
                        admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                    blocker.rollback()
                killed += 1
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        return proc.returncode, out, err

    code, out, err = run_with_terminations(1, tmp_path / "once")        # back after one drop: the retry recovers
    assert code == 0, err
    snapshot_run = re.search(r"runs \S+, (\S+)", out).group(1)
    with dg.DagsterInstance.from_config(str(tmp_path / "once")) as inst:
        kinds = [e.dagster_event.event_type_value for e in inst.all_logs(snapshot_run) if e.dagster_event]
    assert "STEP_UP_FOR_RETRY" in kinds and "STEP_RESTARTED" in kinds
    assert {r["as_of"] for r in served(engine).values()} == {D}

    code, out, err = run_with_terminations(3, tmp_path / "gone")        # still gone after the retries: fails clearly
    assert code == 1
    message = err.strip().splitlines()[-1]
    assert message.startswith(f"stylehint: snapshot as of {D} failed")
    assert "step form_style_stats" in message and "learning store" in message and "unavailable" in message
    assert "terminating connection" in message or "server closed the connection" in message


@pytest.mark.postgres
def test_no_password_in_files_logs_or_metadata(pg, tmp_path):
    engine, settings = pg
    password = "pw-" + os.urandom(6).hex()
    url = make_url(settings.database_url).set(password=password).render_as_string(hide_password=False)
    data = tmp_path / "events.ndjson"
    import json
    data.write_text("".join(json.dumps(e) + "\n" for e in events(6, GH, "a", "narrative") + [{"host": "bad host"}]))
    home = tmp_path / "dagster"
    outputs = []
    for args in (("-v", "db", "upgrade"), ("-v", "ingest", str(data), "--json"),
                 ("-v", "materialize", "--as-of", D.isoformat()), ("-v", "profile", GH, "a")):
        proc = cli(url, home, *args)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        outputs.append(out + err)
    logs = "\n".join(outputs)
    assert password not in logs and "***" in logs                      # the store is named, masked

    with dg.DagsterInstance.from_config(str(home)) as inst:
        runs = inst.get_runs()
        assert len(runs) == 2
        for run in runs:
            assert password not in repr(run)
            for entry in inst.all_logs(run.run_id):
                assert password not in repr(entry)
    for path in home.rglob("*"):                                        # run storage, event logs, compute logs
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    inline = re.compile(r"\b[a-z][a-z0-9+]*://[^\s/:@'\"{}]+:[^\s/@'\"{}]+@")   # a URL with user, colon, password, at-sign
    for name in tracked:
        path = ROOT / name
        if path.is_file():
            body = path.read_text(errors="replace")
            assert not inline.search(body), f"{name} holds a URL with an inline password"


@pytest.mark.parametrize("command", [["ui"], ["metrics", "serve"]])
def test_services_bind_loopback_by_default(command):
    parser = build_parser()
    if command == ["metrics", "serve"] and "metrics" not in parser._subparsers._group_actions[0].choices:
        pytest.skip("`stylehint metrics serve` (issue 7) is not on this branch yet")
    assert parser.parse_args(command).host == "127.0.0.1"
