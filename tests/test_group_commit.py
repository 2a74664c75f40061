"""Group commit of the sync route: uploads written in one transaction report, store and count exactly
what the same uploads ingested one by one, in order, report and store (SQLite and PostgreSQL)."""
from __future__ import annotations

import io
import json
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, select, text

from stylehint_assets.api.faults import store_unavailable
from stylehint_assets.api.group_commit import GroupCommitter
from stylehint_assets.domain.records import read_records
from stylehint_assets.domain.typed_payload import read_payload
from stylehint_assets.ingest import ingest_group, ingest_records, validate_upload
from stylehint_assets.store.engine import get_engine
from stylehint_assets.store.ingest import INGEST_LOCK_KEY
from stylehint_assets.store.schema import autofill_events, autofill_events_quarantine, metric_counters
from tests.conftest import _reset
from tests.test_hostile_input import _drop_refusal, _refuse_one_value

GH = "boards.greenhouse.io"
T0 = datetime(2025, 3, 20, 12, 0)   # naive UTC, as utcnow()


def event(eid, day=10, style="a", status="helpful", **extra):
    e = {"created_at": f"2025-03-{day:02d}T09:00:00Z", "gen_style_id": style, "feedback_status": status,
         "job": {"title": "Senior Dev"}, "final_map": {"#email": "email"}, "duration_ms": 1200, "status": "ok", **extra}
    return e if eid is None else {"event_id": eid, **e}


def uploads() -> list[bytes]:
    """Overlapping ids, an id changed by a later upload (and onto another day), a retry, events
    without id (the same content twice), bad events, a duplicate inside one upload."""
    def body(events):
        return json.dumps({"host": GH, "schema_hash": "s1", "events": events}).encode()
    return [
        body([event("a1"), event("a2"), event("a3"), event(None), event(None), {"event_id": "bad", "feedback_status": "meh"}]),
        body([event("a2"), event("a3", style="b", day=11), event("b1"), event("b1", status="unhelpful"), "not an object"]),
        body([event("a1"), event("a2"), event("a3"), event(None), event(None), {"event_id": "bad", "feedback_status": "meh"}]),
        body([event("a3", style="a", day=12), event("c1", status="unhelpful"), event(None, day=11)]),
        body([]),
    ]


def contents(engine):
    with engine.connect() as conn:
        ev = [{k: v for k, v in r.items() if k != "updated_at"}
              for r in conn.execute(select(autofill_events).order_by(autofill_events.c.event_id)).mappings()]
        qu = [{k: r[k] for k in ("received_at", "source", "line_no", "reason", "raw", "raw_bytes")}
              for r in conn.execute(select(autofill_events_quarantine).order_by(autofill_events_quarantine.c.id)).mappings()]
        mc = [tuple(r) for r in conn.execute(select(metric_counters).order_by(metric_counters.c.name,
                                                                              metric_counters.c.labels))]
    return ev, qu, mc


def sequential(engine, settings, bodies):
    return [ingest_records(engine, read_records(io.BytesIO(b)), settings=settings, source="api",
                           received_at=T0 + timedelta(seconds=i)).as_json() for i, b in enumerate(bodies)]


def grouped(engine, settings, bodies):
    prepared = [validate_upload(read_records(io.BytesIO(b)), settings=settings,
                                received_at=T0 + timedelta(seconds=i)) for i, b in enumerate(bodies)]
    return [r.as_json() for r in ingest_group(engine, prepared, settings=settings, source="api")]


def routed(engine, settings, bodies, first=0):
    """As the sync route prepares uploads: the typed payload decoding, the rows derived (and on
    PostgreSQL COPY-encoded) before the lock."""
    prepared = []
    for i, b in enumerate(bodies):
        records = read_payload(b)
        assert records is not None
        upload = validate_upload(records, settings=settings, received_at=T0 + timedelta(seconds=first + i),
                                  raw_bytes=len(b))
        upload.prepare_rows(settings, copy=engine.dialect.name == "postgresql")
        prepared.append(upload)
    return [r.as_json() for r in ingest_group(engine, prepared, settings=settings, source="api")]


def test_a_group_reports_stores_and_counts_what_sequential_uploads_do(engine, settings):
    bodies = uploads()
    alone = sequential(engine, settings, bodies)
    stored_alone = contents(engine)
    assert [r["merged"] for r in alone] == [0, 3, 5, 1, 0]          # the retry merges everything it sends
    assert (alone[2]["unchanged"], alone[2]["updated"]) == (4, 1)   # a3 (changed by upload 2) is changed back

    _reset(engine)
    assert grouped(engine, settings, bodies) == alone
    assert contents(engine) == stored_alone
    _reset(engine)
    assert routed(engine, settings, bodies) == alone
    assert contents(engine) == stored_alone
    _reset(engine)
    assert [routed(engine, settings, [b], first=i)[0] for i, b in enumerate(bodies)] == alone   # one per group
    assert contents(engine) == stored_alone


def test_a_record_the_store_refuses_is_quarantined_without_failing_the_group(engine, settings):
    bodies = uploads()
    bodies.insert(1, json.dumps({"host": GH, "schema_hash": "s1", "events": [
        event("p1"), event("p2", user_id="refused-by-the-store"), event("a1", style="b")]}).encode())
    _refuse_one_value(engine)
    try:
        alone = sequential(engine, settings, bodies)
        stored_alone = contents(engine)
        _reset(engine)
        assert grouped(engine, settings, bodies) == alone
        assert contents(engine) == stored_alone
    finally:
        _drop_refusal(engine)
    assert alone[1]["rejected_by_reason"] == {"unstorable": 1} and alone[1]["accepted"] == 2


def test_a_group_on_an_unreachable_store_fails_every_request_and_writes_nothing(settings):
    engine = create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    committer = GroupCommitter(engine, settings, "api")
    futures = [committer.submit(validate_upload(read_records(io.BytesIO(b)), settings=settings))
               for b in uploads()]
    for future in futures:
        assert store_unavailable(future.exception(timeout=30))
    committer.close()


@pytest.mark.postgres
def test_uploads_queued_behind_a_transaction_share_the_next_one(pg_database_url, settings):
    engine = get_engine(pg_database_url)
    _reset(engine)
    bodies = uploads()
    committer = GroupCommitter(engine, settings, "api")
    with engine.connect() as holder:   # an ingest elsewhere holds the lock: the writer's first group waits
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": INGEST_LOCK_KEY})
        first = committer.submit(validate_upload(read_records(io.BytesIO(bodies[0])), settings=settings,
                                                 received_at=T0))
        threading.Event().wait(0.5)
        rest = [committer.submit(validate_upload(read_records(io.BytesIO(b)), settings=settings,
                                                 received_at=T0 + timedelta(seconds=i)))
                for i, b in enumerate(bodies[1:], start=1)]
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": INGEST_LOCK_KEY})
        holder.commit()
    reports = [f.result(timeout=30).as_json() for f in [first, *rest]]
    committer.close()
    assert committer.groups == 2
    stored = contents(engine)

    _reset(engine)
    assert sequential(engine, settings, bodies) == reports
    assert contents(engine) == stored


def test_a_request_that_goes_away_neither_stops_the_writer_nor_loses_its_upload(engine, settings):
    committer = GroupCommitter(engine, settings, "api")
    bodies = uploads()
    prepared = [validate_upload(read_records(io.BytesIO(b)), settings=settings) for b in bodies]
    futures = [committer.submit(u) for u in prepared]
    futures[0].cancel()                        # as asyncio.wrap_future does when its request is cancelled
    assert all(f.result(timeout=30) for f in futures[1:])
    assert committer.submit(prepared[0]).result(timeout=30).merged == 5   # the writer still writes ...
    committer.close()
    ev, _, _ = contents(engine)
    assert {"a1", "a2", "a3", "b1", "c1"} <= {e["event_id"] for e in ev}  # ... and kept the cancelled upload
