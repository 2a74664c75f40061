"""Property-based ingestion tests (hypothesis), on SQLite and PostgreSQL: arbitrary bytes and
arbitrary JSON never crash a batch; valid records are stored exactly once, invalid ones are
quarantined with a reason, and the stored totals equal the valid input; hostile but legal
strings come back verbatim."""
from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from sqlalchemy import func, select

from stylehint_assets.domain.events import Rejection, validate
from stylehint_assets.domain.records import read_records
from stylehint_assets.store.counters import read_counters
from stylehint_assets.ingest import ingest_records
from stylehint_assets.store.schema import autofill_events, autofill_events_quarantine, metric_counters

from .conftest import RECEIVED, _reset

PROPERTY = hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text every database stores: no NUL, no lone surrogates (both are rejected as invalid_text).
STORABLE = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
HOSTILE_TEXT = st.one_of(
    st.text(STORABLE, max_size=40),
    st.sampled_from(["'", '"', "\\", "\\N", "\t", "\n", "\r\n", "'; DROP TABLE autofill_events; --",
                     "$$; SELECT pg_sleep(10); $$", "%s %(x)s :x ?", "\x01\x1b[31m\x7f", "日本語 ✓ émigré 👩‍💻",
                     "\u202e\u200b", "#" + "very-long-selector > div:nth-child(2) " * 400]),
)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
FIELD_NAMES = st.sampled_from(["event_id", "host", "schema_hash", "created_at", "gen_style_id", "feedback_status",
                               "edit_chars", "edit_stats", "duration_ms", "status", "suggested_map", "final_map",
                               "validation_errors", "job", "segment_key", "policy", "profile_used", "profile_source",
                               "user_id", "application_id", "events", "unknown"])
# Objects that look like events, with arbitrary values in the known fields: mostly invalid.
EVENTISH = st.dictionaries(FIELD_NAMES, JSON_VALUE, max_size=8).map(
    lambda d: {"host": "boards.greenhouse.io", "schema_hash": "s", **d})


def _valid_event(i: int):
    return st.fixed_dictionaries({
        "event_id": st.just(f"valid-{i}"),
        "host": st.sampled_from(["boards.greenhouse.io", "https://Jobs.Lever.co:443/x", "acme.com.", "a-b.c0.io"]),
        "schema_hash": st.text(STORABLE, min_size=1, max_size=30).filter(str.strip),   # blank is "missing"
        "created_at": st.sampled_from(["2025-03-01T10:00:00Z", "2025-03-30T23:59:59+02:00", "2025-03-15"]),
        "gen_style_id": st.one_of(st.none(), st.text(STORABLE, max_size=30)),
        "feedback_status": st.sampled_from([None, "helpful", "unhelpful"]),
        "edit_chars": st.one_of(st.none(), st.integers(0, 10**6)),
        "duration_ms": st.one_of(st.none(), st.integers(0, 10**6)),
        "final_map": st.dictionaries(st.text(STORABLE, max_size=20), st.one_of(st.none(), st.text(STORABLE, max_size=10)),
                                     max_size=3),
        "job": st.one_of(st.none(), st.fixed_dictionaries({"title": st.text(STORABLE, max_size=30)})),
    })


INVALID_EVENTS = st.sampled_from([
    {"schema_hash": "s"},                                                   # missing host
    {"host": "not a host!", "schema_hash": "s"},
    {"host": "a.com"},                                                      # missing schema_hash
    {"host": "a.com", "schema_hash": "s", "status": "exploded"},
    {"host": "a.com", "schema_hash": "s", "edit_chars": -1},
    {"host": "a.com", "schema_hash": "s", "edit_chars": 2**40},
    {"host": "a.com", "schema_hash": "s", "feedback_status": "meh"},
    {"host": "a.com", "schema_hash": "s", "final_map": {"#a": 3}},
    {"host": "a.com", "schema_hash": "s", "created_at": "yesterday"},
    {"host": "a.com", "schema_hash": "s", "created_at": "2099-01-01T00:00:00Z"},
    {"host": "a.com", "schema_hash": "s", "event_id": "x" * 129},
    {"host": "a.com", "schema_hash": "s", "profile_used": "yes"},
])


def _ingest(engine, settings, data: bytes):
    return ingest_records(engine, read_records(io.BytesIO(data)), settings=settings, received_at=RECEIVED)


def _counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(autofill_events)).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(autofill_events_quarantine)).scalar_one()
        bad_reasons = conn.execute(select(func.count()).select_from(autofill_events_quarantine).where(
            (autofill_events_quarantine.c.reason == "") | autofill_events_quarantine.c.reason.contains("\n"))).scalar_one()
    return events, quarantined, bad_reasons


def _expected_accepted(data: bytes) -> int:
    """What the validation rules accept, decided record by record without the store."""
    accepted = 0
    for record in read_records(io.BytesIO(data)):
        if record.rejection:
            continue
        try:
            validate(record.value, RECEIVED)
            accepted += 1
        except Rejection:
            pass
    return accepted


@PROPERTY
@given(lines=st.lists(st.binary(max_size=120), max_size=12))
def test_arbitrary_bytes_never_crash_the_batch(engine, settings, lines):
    _reset(engine)
    data = b"\n".join(lines)
    report = _ingest(engine, settings, data)
    events, quarantined, bad_reasons = _counts(engine)
    assert quarantined == report.rejected and bad_reasons == 0
    assert report.accepted == _expected_accepted(data)
    assert events == report.inserted <= report.accepted


@PROPERTY
@given(values=st.lists(st.one_of(JSON_VALUE, EVENTISH, st.lists(EVENTISH, max_size=3),
                                  st.fixed_dictionaries({"host": st.just("jobs.lever.co"), "schema_hash": st.just("p"),
                                                         "events": st.lists(EVENTISH, max_size=3)})), max_size=10))
def test_arbitrary_json_never_crashes_and_every_record_is_accounted_for(engine, settings, values):
    _reset(engine)
    data = b"".join(json.dumps(v).encode() + b"\n" for v in values)  # NaN/Infinity included: not JSON, quarantined
    report = _ingest(engine, settings, data)
    records = list(read_records(io.BytesIO(data)))
    events, quarantined, bad_reasons = _counts(engine)
    assert report.accepted + report.rejected == len(records)
    assert report.accepted == _expected_accepted(data)
    assert quarantined == report.rejected and bad_reasons == 0
    assert events == report.inserted and report.inserted + report.merged >= report.accepted - report.unchanged


@PROPERTY
@given(data=st.data(), n_valid=st.integers(0, 8), invalid=st.lists(INVALID_EVENTS, max_size=5),
       garbage=st.lists(st.sampled_from([b"{oops", b"\xff\xfe", b"[1]", b'"text"', b"NaN", b'{"x": 1e999}']),
                        max_size=3))
def test_valid_stored_once_invalid_quarantined_totals_equal_input(engine, settings, data, n_valid, invalid, garbage):
    _reset(engine)
    valid = [data.draw(_valid_event(i)) for i in range(n_valid)]
    lines = [json.dumps(v).encode() for v in valid + invalid] + garbage
    order = data.draw(st.permutations(range(len(lines))))
    report = _ingest(engine, settings, b"\n".join(lines[i] for i in order))

    assert (report.accepted, report.rejected) == (len(valid), len(invalid) + len(garbage))
    events, quarantined, bad_reasons = _counts(engine)
    assert events == len(valid) and quarantined == len(invalid) + len(garbage) and bad_reasons == 0
    with engine.connect() as conn:
        stored = {r.event_id: r for r in conn.execute(select(autofill_events))}
        runs = conn.execute(select(func.coalesce(func.sum(metric_counters.c.value), 0))
                            .where(metric_counters.c.name == "applylens_autofill_runs_total")).scalar_one()
    assert sorted(stored) == sorted(v["event_id"] for v in valid)
    assert sum(r.edit_chars or 0 for r in stored.values()) == sum(v["edit_chars"] or 0 for v in valid)
    assert sum(r.duration_ms or 0 for r in stored.values()) == sum(v["duration_ms"] or 0 for v in valid)
    assert sorted(r.feedback_status or "" for r in stored.values()) == sorted(v["feedback_status"] or "" for v in valid)
    for v in valid:
        row = stored[v["event_id"]]
        assert (row.schema_hash, row.gen_style_id, row.final_map or {}) == (v["schema_hash"], v["gen_style_id"],
                                                                           v["final_map"])
    assert runs == len(valid)

    again = _ingest(engine, settings, b"\n".join(lines))     # a retried upload: nothing new, nothing lost
    assert again.inserted == 0 and _counts(engine)[0] == len(valid)


@PROPERTY
@given(selectors=st.lists(HOSTILE_TEXT, min_size=1, max_size=4, unique=True), style=HOSTILE_TEXT,
       schema=HOSTILE_TEXT.filter(lambda t: t[:256].strip()), user=HOSTILE_TEXT, title=HOSTILE_TEXT)
def test_hostile_strings_are_stored_and_returned_verbatim(engine, settings, selectors, style, schema, user, title):
    _reset(engine)
    record = {"event_id": "h'\\N\t1", "host": "boards.greenhouse.io", "schema_hash": schema[:256],
              "created_at": "2025-03-01T10:00:00Z", "gen_style_id": style[:128], "user_id": user,
              "final_map": {s: s for s in selectors}, "job": {"title": title}, "note": {"k'": user}}
    report = _ingest(engine, settings, json.dumps(record, ensure_ascii=False).encode() + b"\n")
    assert report.accepted == 1, report.rejected_by_reason
    with engine.connect() as conn:
        [row] = conn.execute(select(autofill_events)).mappings().all()
        read_counters(conn)
    assert row["event_id"] == record["event_id"] and row["schema_hash"] == record["schema_hash"]
    assert row["gen_style_id"] == record["gen_style_id"] and row["user_id"] == user
    assert row["final_map"] == record["final_map"] and row["job"] == {"title": title}
    assert row["extra"] == {"note": {"k'": user}}


@hsettings(max_examples=300, deadline=None)
@given(st.one_of(EVENTISH, _valid_event(0)), st.booleans())
def test_the_typed_decoding_agrees_with_the_python_rules(event, ascii_only):
    """Whatever msgspec decodes and ``validate_typed`` accepts, the Python path validates into the
    same event; everything else falls back to it (so rejections and reasons stay its own)."""
    from stylehint_assets.domain.typed_events import decode_typed, validate_typed

    line = json.dumps(event, ensure_ascii=ascii_only)
    typed = decode_typed(line)
    fast = None if typed is None else validate_typed(typed, RECEIVED, 500)
    try:
        slow = validate(json.loads(line), RECEIVED)
    except Rejection:
        slow = None
    except (ValueError, OverflowError):   # e.g. NaN: the decoder of records rejects it first
        slow = None
    if fast is not None:
        assert fast == slow


def test_typed_decoding_leaves_the_unusual_lines_to_the_python_path():
    """Lines whose decoding or rules only the Python path words: msgspec declines them all."""
    from stylehint_assets.domain.typed_events import decode_typed, validate_typed

    base = '"host": "a.lever.co", "schema_hash": "s"'
    for line in ['{%s, "edit_chars": 123456789012345678901234567890}' % base, '{%s, "job": {"x": NaN}}' % base,
                 '{%s, "job": {"x": 1e999}}' % base, '{%s, "duration_ms": 5.0}' % base, '{%s, "x": 1}' % base,
                 '{%s, "events": []}' % base, '[{%s}]' % base, '{%s, "profile_used": 1}' % base,
                 '{%s, "status": "weird"}' % base, '{%s} trailing' % base, '{"host": 5, %s}' % base]:
        assert decode_typed(line) is None, line
    # duplicate keys: the last wins in both decoders (msgspec checks each occurrence's type)
    assert validate_typed(decode_typed('{"host": "x.io", %s}' % base), RECEIVED, 500)["host"] == "a.lever.co"
    # too many selectors, an empty event_id: the typed rules decline, the Python rules word it
    many = json.dumps({"host": "a.lever.co", "schema_hash": "s", "final_map": {f"#{i}": "x" for i in range(501)}})
    assert validate_typed(decode_typed(many), RECEIVED, 500) is None
    assert validate_typed(decode_typed('{%s, "event_id": ""}' % base), RECEIVED, 500) is None
