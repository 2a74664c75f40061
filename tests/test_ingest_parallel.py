"""A file decoded by worker processes stores what the serial ingest stores (PostgreSQL): the same
events, quarantine (line numbers and reasons), counters and report, for a hostile corpus, a
re-ingest, repeated ids across and within batches, content-derived ids, and the inputs that
cannot be cut at line boundaries (a pretty-printed document, a line over the record limit)."""
import json
import logging

import pytest
from sqlalchemy import select, text

from stylehint_assets import ingest_parallel
from stylehint_assets.config import Settings
from stylehint_assets.ingest_parallel import ingest_file
from stylehint_assets.store.engine import get_engine
from stylehint_assets.store.schema import autofill_events, autofill_events_quarantine, metric_counters

from .conftest import RECEIVED, _reset
from .test_hostile_input import BASE, POISON, _drop_refusal, _line, _refuse_one_value

pytestmark = pytest.mark.postgres


def _event(n: int, **extra) -> dict:
    return {**BASE, "event_id": f"e{n}", "gen_style_id": f"s{n % 3}", "feedback_status": "helpful",
            "duration_ms": n, "final_map": {f"#f{n % 5}": "email"}, **extra}


def _mixed_corpus() -> bytes:
    """Clean stretches (written from the workers' rows), and batches with every kind of poison,
    content-derived ids (identical records far apart), an id repeated within and across
    batches, a sync payload and blank lines."""
    lines = [_line(_event(n)) for n in range(250)]
    over_the_limit = [poison for code, poison in POISON if code == "too_large"]
    for n, poison in enumerate(p for code, p in POISON if code != "too_large"):
        lines += [_line(_event(1000 + n)), _line(poison)]
    lines += [b"", _line({**BASE, "gen_style_id": "no-id"}), _line(_event(7, duration_ms=70))]   # e7 again: a merge
    lines += [_line(_event(n)) for n in range(2000, 2300)]
    lines += [_line({**BASE, "gen_style_id": "no-id"}), _line(_event(2001, status="error")), _line(_event(2001))]
    lines.append(_line({"host": "jobs.lever.co", "schema_hash": "pay", "events": [
        {"event_id": f"p{i}", "created_at": "2025-03-01T11:00:00Z", "gen_style_id": "x"} for i in range(30)]}))
    lines += [_line(_event(n)) for n in range(3000, 3250)]
    lines += [_line(p) for p in over_the_limit] + [_line(_event(n)) for n in range(4000, 4050)]   # read on serially
    return b"\n".join(lines) + b"\n"


def _state(engine) -> dict:
    stamps = {"updated_at"}   # the change stamp follows batch boundaries, which differ
    columns = [c for c in autofill_events.c if c.name not in stamps]
    with engine.connect() as conn:
        return {
            "events": [tuple(r) for r in conn.execute(select(*columns).order_by(autofill_events.c.event_id))],
            "quarantine": [tuple(r) for r in conn.execute(
                select(*(autofill_events_quarantine.c[c] for c in
                         ("line_no", "reason", "raw", "raw_bytes", "source", "received_at")))
                .order_by(autofill_events_quarantine.c.line_no, autofill_events_quarantine.c.reason))],
            "counters": [tuple(r) for r in conn.execute(select(metric_counters).order_by(
                metric_counters.c.name, metric_counters.c.labels))],
        }


@pytest.fixture
def pg(pg_database_url):
    engine = get_engine(pg_database_url)
    _reset(engine)
    return engine


@pytest.fixture
def parallel(monkeypatch):
    """Every file decoded in workers, and a count of the batches written from their stand-in rows."""
    monkeypatch.setattr(ingest_parallel, "PARALLEL_MIN_BYTES", 0)
    made = []
    original = ingest_parallel._stand_ins
    monkeypatch.setattr(ingest_parallel, "_stand_ins", lambda *a: made.append(1) or original(*a))
    return made


def _ingest(engine, path, workers: int) -> dict:
    settings = Settings(database_url=str(engine.url), ingest_batch_size=100, ingest_workers=workers)
    with open(path, "rb") as stream:
        return ingest_file(engine, stream, settings=settings, received_at=RECEIVED, source="file").as_json()


def _both(engine, path, before=None, twice: bool = False) -> tuple[list, list]:
    """(reports, state) of the serial ingest and of the parallel one, each on an empty store."""
    runs = []
    for workers in (1, 2):
        _reset(engine)
        if before:
            before()
        reports = [_ingest(engine, path, workers) for _ in range(2 if twice else 1)]
        runs.append((reports, _state(engine)))
    return runs


def test_a_hostile_corpus_and_its_reingest_store_what_the_serial_ingest_stores(pg, tmp_path, parallel):
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(_mixed_corpus())
    _refuse_one_value(pg)    # the "unstorable" poison: a batch the database refuses is split
    try:
        (serial, serial_state), (split, split_state) = _both(pg, path, twice=True)
    finally:
        _drop_refusal(pg)
    assert len(parallel) >= 8, "too few batches written from the workers' rows"
    assert split == serial
    assert split_state == serial_state
    first, again = serial
    assert first["rejected"] == len(POISON) and first["merged"] >= 3
    assert again["unchanged"] == first["accepted"] - first["merged"] and again["inserted"] == 0
    assert len({r[0] for r in serial_state["quarantine"]}) == len(POISON)   # each on its own line


def test_a_pretty_printed_document_is_read_on_in_one_process(pg, tmp_path, parallel, caplog):
    events = [{"event_id": f"d{i}", "created_at": "2025-03-01T10:00:00Z", "gen_style_id": "d"} for i in range(40)]
    document = json.dumps({"host": "boards.greenhouse.io", "schema_hash": "doc", "events": events}, indent=2)
    lines = [_line(_event(n)) for n in range(450)]
    path = tmp_path / "tail.json"
    path.write_bytes(b"\n".join(lines) + b"\n" + document.encode() + b"\n")
    with caplog.at_level(logging.INFO, logger="stylehint_assets.ingest_parallel"):
        (serial, serial_state), (split, split_state) = _both(pg, path)
    assert split == serial and split_state == serial_state
    assert serial[0]["accepted"] == 490 and serial[0]["rejected"] == 0
    assert parallel and any("one process" in r.getMessage() for r in caplog.records)


def test_a_line_over_the_record_limit_is_read_on_in_one_process(pg, tmp_path, parallel):
    big = {"host": "boards.greenhouse.io", "schema_hash": "big", "events": [
        {"event_id": f"b{i}", "created_at": "2025-03-01T10:00:00Z", "note": "x" * 400} for i in range(3000)]}
    lines = [_line(_event(n)) for n in range(350)] + [_line(big)] + [_line(_event(n)) for n in range(5000, 5150)]
    path = tmp_path / "long.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    (serial, serial_state), (split, split_state) = _both(pg, path)
    assert split == serial and split_state == serial_state
    assert serial[0]["accepted"] == 3500 and parallel


def test_a_broken_line_inside_a_piece_stays_in_the_workers_with_its_line_number(pg, tmp_path, parallel, caplog):
    """A broken line that could start a document, found to be broken within its piece, is rejected
    there (no fall back to one process), quarantined with its own line number in the file."""
    lines = [_line(_event(n)) for n in range(333)] + [b"{not json"] + [_line(_event(n)) for n in range(400, 420)]
    path = tmp_path / "numbers.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    _reset(pg)
    with caplog.at_level(logging.INFO, logger="stylehint_assets.ingest_parallel"):
        report = _ingest(pg, path, 2)
    assert report["accepted"] == 353 and report["rejected_by_reason"] == {"bad_json": 1}
    assert not any("one process" in r.getMessage() for r in caplog.records)
    with pg.connect() as conn:
        assert conn.execute(text("SELECT line_no FROM autofill_events_quarantine")).scalars().all() == [334]


def test_content_ids_before_a_document_count_once(pg, tmp_path, parallel):
    """Records without event_id in the piece where the file turns into a document, and inside the
    document: each identical record counted once, in input order."""
    same = _line({**BASE, "gen_style_id": "no-id"})
    document = json.dumps({"host": "boards.greenhouse.io", "schema_hash": "doc", "events": [
        {"created_at": "2025-03-01T10:00:00Z", "gen_style_id": "no-id"} for _ in range(3)]}, indent=2)
    lines = [_line(_event(n)) for n in range(250)] + [same, same] + [_line(_event(n)) for n in range(300, 330)]
    path = tmp_path / "ids.json"
    path.write_bytes(b"\n".join(lines) + b"\n" + document.encode() + b"\n")
    (serial, serial_state), (split, split_state) = _both(pg, path)
    assert split == serial and split_state == serial_state
    assert serial[0]["inserted"] == 285 and parallel
