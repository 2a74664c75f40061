"""Hostile input (issue 12): poison records of every kind between valid ones never stop a batch
and never lose a record, on SQLite and PostgreSQL, through the real `stylehint ingest`."""
import dataclasses
import json
import os
import subprocess
import sys
import time

from sqlalchemy import func, select, text

from stylehint_assets.store.counters import read_counters
from stylehint_assets.store.schema import autofill_events, autofill_events_quarantine

BASE = {"host": "boards.greenhouse.io", "schema_hash": "s1", "created_at": "2025-03-01T10:00:00Z"}
DEEP = "[" * 300 + "]" * 300


def _line(value) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


# (expected reason code, raw line): each one poison of a different kind
POISON = [
    ("invalid_created_at", {**BASE, "event_id": "p-utc", "created_at": "0001-01-01T00:00:00+05:00"}),
    ("invalid_created_at", {**BASE, "event_id": "p-utc2", "created_at": "9999-12-31T23:59:59-05:00"}),
    ("too_deep", b'{"host": "a.com", "schema_hash": "s", "x": ' + DEEP.encode() + b', "t": "caf\\u00e9"}'),
    ("too_deep", b"[" * 100_000 + b"]" * 100_000),
    ("too_deep", b'{"host": "a.com", "schema_hash": "s", "events": [{"x": ' + DEEP.encode() + b'}]}'),
    ("too_many_selectors", {**BASE, "event_id": "p-sel", "final_map": {f"#f{i}": "email" for i in range(501)}}),
    ("not_utf8", b"\xff\xfe not utf-8"),
    ("bad_json", b"{not json"),
    ("bad_json", b'{"host": "a.com", "schema_hash": "s", "n": NaN}'),
    ("bad_json", b'{"host": "a.com", "schema_hash": "s", "n": 1e999}'),
    ("invalid_text", b'{"host": "a.com", "schema_hash": "s", "note": "nul \\u0000 inside"}'),
    ("invalid_text", b'{"host": "a.com", "schema_hash": "s", "note": "lone \\ud800"}'),
    ("not_an_object", b"[1]"),
    ("not_an_object", b"42"),
    ("invalid_payload", b'{"host": "a.com", "schema_hash": "s", "events": {"not": "a list"}}'),
    ("missing_host", {"schema_hash": "s", "event_id": "p-nohost"}),
    ("invalid_host", {"host": "not a host!", "schema_hash": "s"}),
    ("invalid_edit_chars", {**BASE, "event_id": "p-big", "edit_chars": 2**40}),
    ("invalid_event_id", {**BASE, "event_id": "x" * 129}),
    ("created_at_in_future", {**BASE, "event_id": "p-future", "created_at": "2999-01-01T00:00:00Z"}),
    ("too_large", b'{"host": "a.com", "schema_hash": "s", "pad": "' + b"x" * (1 << 20) + b'"}'),
    ("unstorable", {**BASE, "event_id": "p-store", "user_id": "refused-by-the-store"}),
]


def _corpus() -> tuple[bytes, list[str]]:
    lines, valid = [], []
    for n, (_, poison) in enumerate(POISON):
        valid.append(f"v{n}")
        lines += [_line({**BASE, "event_id": f"v{n}", "gen_style_id": "a"}), _line(poison)]
    valid.append("v-last")
    lines.append(_line({**BASE, "event_id": "v-last"}))
    return b"\n".join(lines) + b"\n", valid


def _refuse_one_value(engine) -> None:
    """A store-level failure of one record, made by the database itself."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE autofill_events ADD CONSTRAINT refuse_poison "
                              "CHECK (user_id IS DISTINCT FROM 'refused-by-the-store')"))
        else:
            conn.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON autofill_events "
                              "WHEN NEW.user_id = 'refused-by-the-store' BEGIN SELECT RAISE(ABORT, 'refused'); END"))


def _drop_refusal(engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE autofill_events DROP CONSTRAINT IF EXISTS refuse_poison"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS refuse_poison"))


def _cli(database_url: str, args: list[str], data: bytes | None = None, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stylehint_assets.cli", *args], input=data, capture_output=True,
                          env={**os.environ, "STYLEHINT_DATABASE_URL": database_url, **env}, timeout=300)


def test_a_hostile_corpus_stores_every_valid_record_once_and_quarantines_every_poison(engine, database_url, tmp_path):
    data, valid = _corpus()
    path = tmp_path / "hostile.ndjson"
    path.write_bytes(data)
    _refuse_one_value(engine)
    try:
        # a batch of 100 records holds every kind of poison with valid records on both sides
        done = _cli(database_url, ["ingest", str(path), "--json"], STYLEHINT_INGEST_BATCH_SIZE="100")
    finally:
        _drop_refusal(engine)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    expected = {}
    for code, _ in POISON:
        expected[code] = expected.get(code, 0) + 1
    assert report == {"accepted": len(valid), "rejected": len(POISON), "merged": 0, "rejected_by_reason": expected}
    with engine.connect() as conn:
        stored = conn.execute(select(autofill_events.c.event_id).order_by(autofill_events.c.event_id)).scalars().all()
        reasons = conn.execute(select(autofill_events_quarantine.c.reason, autofill_events_quarantine.c.line_no)
                               .order_by(autofill_events_quarantine.c.line_no)).all()
        counters = {(n, tuple(sorted(l.items()))): v for n, l, v in read_counters(conn)}
    assert stored == sorted(valid)
    assert [r.reason.split(":", 1)[0] for r in reasons] == [code for code, _ in POISON]
    assert [r.line_no for r in reasons] == [2 * (n + 1) for n in range(len(POISON))]   # each poison's own line
    assert all(r.reason.strip() and "\n" not in r.reason for r in reasons)
    runs = sum(v for (name, _), v in counters.items() if name == "applylens_autofill_runs_total")
    assert runs == len(valid)                        # counters count the stored events, exactly once


def test_a_sync_payload_over_the_record_limit_ingests_every_event(engine, database_url, tmp_path):
    """8,000 events in one 1.3 MB line, and the same payload pretty-printed: every event lands."""
    events = [{"event_id": f"q{i}", "gen_style_id": "style-%d" % (i % 7), "feedback_status": "helpful",
               "created_at": "2025-03-01T10:00:00Z", "duration_ms": i} for i in range(8000)]
    payload = {"host": "boards.greenhouse.io", "schema_hash": "big", "events": events}
    one_line, pretty = json.dumps(payload).encode(), json.dumps(payload, indent=2).encode()
    assert len(one_line) > 1 << 20
    for name, data in (("line", one_line), ("pretty", pretty)):
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        done = _cli(database_url, ["ingest", str(path), "--json"])
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["rejected"] == 0 and report["accepted"] == 8000
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(autofill_events)
                            .where(autofill_events.c.schema_hash == "big")).scalar_one() == 8000


def test_stdin_commits_while_the_stream_is_open_and_ctrl_c_commits_what_was_read(engine, database_url):
    """A slow producer: its records are stored within seconds, not at 5,000 records or the end;
    SIGINT stores what was read and exits 130 with one line."""
    proc = subprocess.Popen([sys.executable, "-m", "stylehint_assets.cli", "ingest", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "STYLEHINT_DATABASE_URL": database_url,
                                 "STYLEHINT_INGEST_COMMIT_SECONDS": "1"})

    def stored() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(autofill_events)).scalar_one()

    try:
        for i in range(3):
            proc.stdin.write(json.dumps({**BASE, "event_id": f"slow{i}"}).encode() + b"\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while stored() < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored() == 3                      # committed with the stream still open
        proc.stdin.write(json.dumps({**BASE, "event_id": "slow3"}).encode() + b"\n")
        proc.stdin.flush()
        time.sleep(0.3)                            # read, not yet at its commit time
        proc.send_signal(2)                        # Ctrl-C with the stream still open
        proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert stored() == 4
    lines = err.decode().strip().splitlines()
    assert lines[-1].startswith("stylehint: interrupted: committed")
    assert "Traceback" not in err.decode()


def test_receipt_time_is_taken_per_batch(engine, settings):
    """A long stream takes each batch's receipt time when the batch starts, not at process start."""
    from stylehint_assets.domain.records import Record
    from stylehint_assets.ingest import ingest_records

    def slow():
        for i in range(3):
            yield Record(i + 1, "", value={"event_id": f"r{i}", "host": "a.lever.co", "schema_hash": "f"})
            time.sleep(1.2)

    ingest_records(engine, slow(), settings=dataclasses.replace(settings, ingest_commit_seconds=0.5), live=True)
    with engine.connect() as conn:
        got = conn.execute(select(autofill_events.c.received_at).order_by(autofill_events.c.event_id)).scalars().all()
    assert len(got) == 3 and got[0] < got[1] < got[2]
    assert (got[2] - got[0]).total_seconds() >= 2


def test_payload_events_without_id_get_distinct_ids_per_form(engine, settings):
    import io

    from stylehint_assets.domain.records import read_records
    from stylehint_assets.ingest import ingest_records

    event = {"gen_style_id": "a", "created_at": "2025-03-01T10:00:00Z"}
    data = b"\n".join(json.dumps({"host": "boards.greenhouse.io", "schema_hash": form, "events": [event]}).encode()
                      for form in ("form-a", "form-b")) + b"\n"
    ingest_records(engine, read_records(io.BytesIO(data)), settings=settings)
    with engine.connect() as conn:
        got = conn.execute(select(autofill_events.c.schema_hash, autofill_events.c.event_id)).all()
    assert sorted(h for h, _ in got) == ["form-a", "form-b"]
    assert len({eid for _, eid in got}) == 2


def test_a_streamed_payload_inherits_host_and_schema_that_follow_its_events(monkeypatch):
    """Over the record limit, a payload is parsed event by event; one whose host and schema_hash
    come after the events spools them until the end, and one oversize or deep event is rejected alone."""
    import io

    import stylehint_assets.domain.records as records

    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 300)
    events = [{"event_id": f"s{i}", "pad": "x" * 40} for i in range(20)]
    late = json.dumps({"events": events, "host": "a.lever.co", "schema_hash": "late"}).encode()
    got = list(records.read_records(io.BytesIO(late + b"\n" + b'{"event_id": "next"}\n')))
    assert [(r.value["event_id"], r.value.get("host"), r.value.get("schema_hash")) for r in got[:20]] == \
        [(f"s{i}", "a.lever.co", "late") for i in range(20)]
    assert [r.line_no for r in got] == [1] * 20 + [2] and got[20].value == {"event_id": "next"}
    mixed = (b'{"host": "a.lever.co", "schema_hash": "m", "events": [{"event_id": "ok1", "pad": "' + b"y" * 200
             + b'"}, {"event_id": "huge", "pad": "' + b"z" * 400 + b'"}, {"x": ' + b"[" * 70 + b"]" * 70
             + b'}, {"event_id": "ok2", "pad": "' + b"y" * 200 + b'"}]}\n')
    got = list(records.read_records(io.BytesIO(mixed)))
    assert [r.rejection.code if r.rejection else r.value["event_id"] for r in got] == ["ok1", "too_large", "too_deep", "ok2"]
