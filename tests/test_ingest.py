"""Ingestion against a real store (SQLite and PostgreSQL): validation, quarantine, merge, idempotence."""
import io
import json
from datetime import date, datetime

from sqlalchemy import select, text

from stylehint_assets.domain.records import read_records
from stylehint_assets.store.counters import read_counters
from stylehint_assets.ingest import ingest_records
from stylehint_assets.store.schema import autofill_events, autofill_events_quarantine

from .conftest import RECEIVED
from .graph_helpers import ingest_events


def ndjson(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def ingest(engine, settings, data: bytes, received_at=RECEIVED):
    return ingest_records(engine, read_records(io.BytesIO(data)), settings=settings, received_at=received_at)


def rows(engine, *cols):
    with engine.connect() as conn:
        return conn.execute(select(*(autofill_events.c[c] for c in cols)).order_by(autofill_events.c.event_id)).all()


def quarantine(engine):
    with engine.connect() as conn:
        return conn.execute(select(autofill_events_quarantine.c.reason, autofill_events_quarantine.c.raw,
                                   autofill_events_quarantine.c.line_no)
                            .order_by(autofill_events_quarantine.c.id)).all()


BASE = {"host": "boards.greenhouse.io", "schema_hash": "s1", "created_at": "2025-03-01T10:00:00Z"}


def test_bad_records_are_quarantined_and_never_stop_the_batch(engine, settings):
    data = ndjson(
        dict(BASE, event_id="ok1"),
        b"\xff\xfe not utf-8",
        b"{not json",
        b"[1, 2]",
        dict(BASE, event_id="bad-status", status="exploded"),
        dict(BASE, event_id="ok2", gen_style_id="a"),
        b'{"host": "a.com", "schema_hash": "s", "note": "nul \\u0000 inside"}',
        b"x" * (1 << 20 + 1),
    )
    report = ingest(engine, settings, data)
    assert (report.accepted, report.rejected) == (2, 7)
    assert report.rejected_by_reason == {"not_utf8": 1, "bad_json": 1, "not_an_object": 2, "invalid_status": 1,
                                         "invalid_text": 1, "too_large": 1}
    assert [r.event_id for r in rows(engine, "event_id")] == ["ok1", "ok2"]
    reasons = quarantine(engine)
    assert len(reasons) == 7
    assert all("\n" not in r.reason for r in reasons)
    assert any(r.reason.startswith("invalid_status: status must be one of") and '"exploded"' in r.raw for r in reasons)
    assert max(len(r.raw) for r in reasons) <= 8192
    assert {r.line_no for r in reasons} == {2, 3, 4, 5, 7, 8}


def test_late_feedback_lands_on_its_run(engine, settings):
    ingest(engine, settings, ndjson(dict(BASE, event_id="run-1", gen_style_id="a", edit_chars=None, status="ok")))
    report = ingest(engine, settings, ndjson({"event_id": "run-1", "host": BASE["host"], "schema_hash": "s1",
                                              "feedback_status": "helpful", "edit_chars": 40}),
                    received_at=datetime(2025, 4, 2))
    assert (report.accepted, report.merged, report.updated) == (1, 1, 1)
    [row] = rows(engine, "event_id", "feedback_status", "edit_chars", "gen_style_id", "created_at", "received_at", "updated_at")
    assert row.feedback_status == "helpful" and row.edit_chars == 40 and row.gen_style_id == "a"
    assert row.created_at == datetime(2025, 3, 1, 10)       # the retry had no created_at
    assert row.received_at == RECEIVED and row.updated_at == datetime(2025, 4, 2)


def test_reingesting_the_same_file_changes_nothing(engine, settings):
    data = ndjson(*(dict(BASE, event_id=f"e{i}", gen_style_id="a", duration_ms=500 + i) for i in range(20)),
                  dict(BASE, gen_style_id="no-id"), dict(BASE, gen_style_id="no-id"), b"broken")
    first = ingest(engine, settings, data)
    before = rows(engine, "event_id", "updated_at")
    with engine.connect() as conn:
        counters_before = read_counters(conn)
    second = ingest(engine, settings, data, received_at=datetime(2025, 4, 1))
    assert first.inserted == 22 and second.inserted == 0 and second.updated == 0 and second.unchanged == 22
    assert second.merged == 22
    assert rows(engine, "event_id", "updated_at") == before
    with engine.connect() as conn:
        assert read_counters(conn) == counters_before


def test_duplicates_inside_one_input_merge_and_count_as_merged(engine, settings):
    report = ingest(engine, settings, ndjson(dict(BASE, event_id="d", gen_style_id="a"),
                                             dict(BASE, event_id="d", feedback_status="unhelpful")))
    assert (report.accepted, report.merged, report.inserted) == (2, 1, 1)
    assert rows(engine, "gen_style_id", "feedback_status") == [("a", "unhelpful")]


def test_sync_payload_events_inherit_host_and_schema(engine, settings):
    payload = {"host": "https://Jobs.Lever.co/acme", "schema_hash": "lv1",
               "events": [{"event_id": "p1", "created_at": "2025-03-02T00:00:00Z"},
                          {"event_id": "p2", "schema_hash": "own", "created_at": "2025-03-02T00:00:00Z"},
                          {"event_id": "p3", "status": "nope"}]}
    report = ingest(engine, settings, json.dumps(payload, indent=2).encode())
    assert (report.accepted, report.rejected) == (2, 1)
    assert rows(engine, "event_id", "host", "schema_hash", "host_family", "event_day") == [
        ("p1", "jobs.lever.co", "lv1", "lever", date(2025, 3, 2)),
        ("p2", "jobs.lever.co", "own", "lever", date(2025, 3, 2)),
    ]


def test_hostile_strings_are_stored_verbatim(engine, settings):
    hostile = ["O'Brien \"quoted\"", "'; DROP TABLE autofill_events; --", "日本語 ✓ émigré", "tab\there\x01\x1f",
               "#" + "very-long-selector>" * 500]
    record = dict(BASE, event_id="h'1", gen_style_id=hostile[1][:128],
                  final_map={s: s for s in hostile}, job={"title": hostile[2]}, user_id=hostile[0])
    assert ingest(engine, settings, ndjson(record)).accepted == 1
    [row] = rows(engine, "event_id", "final_map", "user_id", "gen_style_id")
    assert row.event_id == "h'1" and row.final_map == {s: s for s in hostile} and row.user_id == hostile[0]


def test_counters_count_each_event_once_and_late_fields_when_first_filled(engine, settings):
    ingest(engine, settings, ndjson(dict(BASE, event_id="c1", duration_ms=1500, policy="explore"),
                                    dict(BASE, event_id="c2", status="error")))
    ingest(engine, settings, ndjson(dict(BASE, event_id="c1", edit_chars=30, duration_ms=99999, status="error")))

    def value(name, **labels):
        with engine.connect() as conn:
            return sum(v for n, l, v in read_counters(conn) if n == name and all(l.get(k) == x for k, x in labels.items()))

    assert value("applylens_autofill_runs_total", status="ok", host="greenhouse.io") == 1
    assert value("applylens_autofill_runs_total", status="error") == 1
    assert value("applylens_autofill_edit_chars_total") == 30          # filled in late: counted then
    assert value("applylens_autofill_time_ms_count") == 1              # changed later: not counted again
    assert value("applylens_autofill_time_ms_sum") == 1500
    assert value("applylens_autofill_time_ms_bucket", le="1000") == 0
    assert value("applylens_autofill_time_ms_bucket", le="2500") == 1
    assert value("applylens_autofill_policy_total", policy="explore", host_family="greenhouse") == 1


def test_day_summary_counts_events_forms_and_late_arrivals(engine, settings):
    """What the autofill_events partitions show in the UI, against a count over the raw events."""
    from stylehint_assets.store.aggregates import day_summary

    def event(i, day, form, **kw):
        return {"event_id": f"s{i}", "host": "boards.greenhouse.io", "schema_hash": form,
                "created_at": f"2025-03-{day}T10:00:00", **kw}

    first = [event(0, 29, "a", gen_style_id="x"), event(1, 29, "a", feedback_status="helpful"),
               event(2, 29, "b"), event(3, 30, "a", gen_style_id="y", feedback_status="unhelpful")]
    ingest_events(engine, settings, first, received_at=datetime(2025, 3, 30, 23))
    ingest_events(engine, settings, [event(4, 29, "c"), event(5, 30, "a")], received_at=datetime(2025, 3, 31, 1))
    with engine.connect() as conn:
        days = day_summary(conn, date(2025, 3, 29), date(2025, 3, 30))
    got = [tuple(r) for r in days[["events", "forms", "styled_runs", "with_feedback", "late_arrivals"]].itertuples(index=False)]
    # the 29th: 4 events on forms a, b, c, all received on a later day; the 30th: one received on the 31st
    assert [str(d) for d in days["event_day"]] == ["2025-03-29", "2025-03-30"]
    assert got == [(4, 3, 1, 1, 4), (2, 1, 1, 1, 1)]
    assert all(isinstance(v, int) for row in got for v in row)


def test_a_bulk_load_refreshes_the_planner_statistics(engine, settings, monkeypatch):
    import stylehint_assets.store.ingest as ingest_module

    def planner_rows():
        with engine.connect() as conn:
            return conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'autofill_events'")).scalar()

    monkeypatch.setattr(ingest_module, "ANALYZE_MIN_ROWS", 2)
    events = [{"event_id": f"b{i}", "host": "boards.greenhouse.io", "schema_hash": "f"} for i in range(40)]
    if engine.dialect.name != "postgresql":
        assert not ingest_module.refresh_planner_statistics(engine, 40)   # SQLite: nothing to do
        return
    with engine.begin() as conn:
        conn.execute(text("ANALYZE autofill_events"))   # the emptied table, as the planner sees it
    ingest_events(engine, settings, events[:1])
    assert planner_rows() == 0                       # below the bulk size: left to autovacuum
    ingest_events(engine, settings, events[1:])
    assert planner_rows() == 40                      # analyzed: the planner knows the 40 rows
    assert not ingest_module.refresh_planner_statistics(engine, 3)   # 3 new rows is not 10 % of 40


def test_copy_text_escapes_every_special_and_writes_json_columns_as_documents():
    from stylehint_assets.store.bulk import copy_text

    rows = [{"s": "a\tb\nc\\N\rd", "n": None, "i": 7, "f": 0.1, "b": False, "d": date(2025, 3, 30),
             "t": datetime(2025, 3, 30, 10, 0, 0, 5), "j": {"k\t": "ü\n"}, "js": "plain", "jn": None}]
    line = copy_text(rows, ["s", "n", "i", "f", "b", "d", "t", "j", "js", "jn"], frozenset({"j", "js", "jn"}))
    assert line == ("a\\tb\\nc\\\\N\\rd\t\\N\t7\t0.1\tf\t2025-03-30\t2025-03-30T10:00:00.000005\t"
                    '{"k\\\\t":"ü\\\\n"}\t"plain"\t\\N\n')


def test_ingest_collects_less_often_while_it_runs_and_restores_the_thresholds(engine, settings):
    import gc

    from stylehint_assets.ingest import INGEST_GC_GEN0

    seen = []
    before = gc.get_threshold()
    data = ndjson(*({**BASE, "event_id": f"gc-{i}"} for i in range(3)), b"not json")
    ingest_records(engine, read_records(io.BytesIO(data)), settings=settings, received_at=RECEIVED,
                   progress=lambda report: seen.append(gc.get_threshold()[0]))
    assert seen and all(t >= INGEST_GC_GEN0 for t in seen)
    assert gc.get_threshold() == before


def test_copy_lines_stores_what_copy_text_stores(engine):
    """The fast COPY encoding (plain fields by ``str()``, JSON by msgspec, escaping only rows that
    need it) loads the same values as the field-by-field ``copy_text``, specials included."""
    import pytest

    from sqlalchemy import Column, MetaData, Table

    from stylehint_assets.store.bulk import copy_in, copy_lines, copy_text

    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    rows = [{"s": "plain \u00e9\U0001f600", "n": None, "i": 7, "f": 0.1, "b": False, "d": date(2025, 3, 30),
             "t": datetime(2025, 3, 30, 10, 0, 0, 5), "j": {"k": 'say "hi"\\ \u00fc\n', "big": 2**70}, "jn": None},
            {"s": "a\tb\nc\\N\rd", "n": "\\N", "i": None, "f": None, "b": True, "d": None, "t": datetime(2025, 1, 1),
             "j": ["x", None, 1.5], "jn": "text"}]
    columns = ["s", "n", "i", "f", "b", "d", "t", "j", "jn"]
    order, data = copy_lines(rows, columns, frozenset({"j", "jn"}))
    assert order == columns
    reference = copy_text(rows, columns, frozenset({"j", "jn"}))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE copy_probe (s text, n text, i bigint, f float8, b boolean, "
                             "d date, t timestamp, j jsonb, jn jsonb, via text)")
        probe = Table("copy_probe", MetaData(), *(Column(c) for c in columns))
        for via, text_ in (("lines", data), ("text", reference)):
            copy_in(conn, probe, columns, text_)
            conn.exec_driver_sql(f"UPDATE copy_probe SET via = '{via}' WHERE via IS NULL")
        got = {via: [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT {', '.join(columns)} FROM copy_probe WHERE via = '{via}' ORDER BY i NULLS LAST")]
            for via in ("lines", "text")}
    assert got["lines"] == got["text"] and len(got["lines"]) == 2
    assert got["lines"][0][7] == {"k": 'say "hi"\\ \u00fc\n', "big": 2**70}
    assert got["lines"][0][0] == "plain \u00e9\U0001f600"


def test_copy_in_sends_the_text_in_the_sessions_client_encoding(engine):
    """COPY data reaches the server as the session's client encoding says, not always UTF-8."""
    import pytest
    from sqlalchemy import Column, MetaData, Table

    from stylehint_assets.store.bulk import copy_in

    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        if conn.dialect.driver == "psycopg":
            conn.exec_driver_sql("SET client_encoding = 'LATIN1'")   # psycopg 3 follows the server's report
        else:
            dbapi.set_client_encoding("LATIN1")                       # psycopg2 follows only its own setter
        conn.exec_driver_sql("CREATE TEMPORARY TABLE copy_latin (s text)")
        copy_in(conn, Table("copy_latin", MetaData(), Column("s")), ["s"], "caf\u00e9 na\u00efve\n")
        stored = conn.exec_driver_sql("SELECT s, octet_length(convert_to(s, 'UTF8')) FROM copy_latin").one()
        conn.invalidate()   # not back to the pool in LATIN1
    assert tuple(stored) == ("caf\u00e9 na\u00efve", 12)
