"""The typed decoding of a sync payload (``typed_payload.read_payload``) against ``read_records``:
whatever it reads, it reads into the same records (line, raw text, rejection) and the same
validated events; everything else it leaves to ``read_records``."""
from __future__ import annotations

import io
import json

from hypothesis import given, settings as hsettings, strategies as st

from stylehint_assets.config import Settings
from stylehint_assets.domain.records import read_records
from stylehint_assets.domain.typed_payload import PayloadEventRecord, read_payload
from stylehint_assets.ingest import validate_upload

from .conftest import RECEIVED
from .test_ingest_properties import EVENTISH, INVALID_EVENTS, JSON_VALUE, _valid_event

SETTINGS = Settings(database_url="sqlite://")


def _read(records):
    upload = validate_upload(records, settings=SETTINGS, received_at=RECEIVED)
    return ([(r.line_no, r.raw, event) for r, event in upload.valid],
            [(r.line_no, r.raw, why) for r, why in upload.rejected])


def _agrees(body: bytes) -> bool:
    """Whether the typed decoder read ``body``; when it did, it agrees with ``read_records``."""
    fast = read_payload(body)
    if fast is None:
        return False
    assert _read(fast) == _read(read_records(io.BytesIO(body)))
    return True


def _with_ids(events):
    """Events without event_id keep none; the others get distinct ids."""
    return [dict(e, event_id=f"id-{i}") if isinstance(e, dict) and "event_id" in e else e for i, e in enumerate(events)]


PAYLOAD_EVENT = st.one_of(EVENTISH, INVALID_EVENTS, _valid_event(0), JSON_VALUE,
                          EVENTISH.map(lambda e: {k: v for k, v in e.items() if k not in ("host", "schema_hash")}))


@hsettings(max_examples=300, deadline=None)
@given(events=st.lists(PAYLOAD_EVENT, max_size=6), host=st.sampled_from([None, "jobs.lever.co", "Boards.Greenhouse.io", 5]),
       schema_hash=st.sampled_from([None, "s1", "", " "]), ascii_only=st.booleans(), compact=st.booleans(),
       order=st.booleans())
def test_the_typed_payload_agrees_with_read_records(events, host, schema_hash, ascii_only, compact, order):
    payload = {"events": _with_ids(events)}
    for key, value in (("host", host), ("schema_hash", schema_hash)):
        if value is not None or order:
            payload[key] = value
    if order:   # host and schema_hash after the events
        payload = {"events": payload.pop("events"), **payload}
    body = json.dumps(payload, ensure_ascii=ascii_only, separators=(",", ":") if compact else None).encode()
    _agrees(body)


def test_the_common_payload_is_read_typed_and_its_raw_text_is_built_when_asked():
    events = [{"event_id": "e1", "status": "ok", "final_map": {"#a": "email"}, "host": None},
              {"schema_hash": "own", "created_at": "2025-03-01T10:00:00Z"}]            # no event_id: a content id
    body = json.dumps({"host": "jobs.lever.co", "schema_hash": "s1", "events": events}).encode()
    records = read_payload(body)
    assert [type(r) for r in records] == [PayloadEventRecord, PayloadEventRecord]
    assert all(r._raw is None for r in records)
    assert _agrees(body)
    assert records[0].raw == '{"host": "jobs.lever.co", "schema_hash": "s1", "event_id": "e1", "status": "ok", ' \
                             '"final_map": {"#a": "email"}}'
    assert json.loads(records[1].raw)["schema_hash"] == "own"


def test_a_bad_event_inside_the_payload_is_read_typed_and_rejected_with_the_python_reason():
    body = json.dumps({"host": "jobs.lever.co", "schema_hash": "s1", "events": [
        {"event_id": "ok"}, {"event_id": "bad", "edit_chars": -1}, {"event_id": "odd", "unknown": [1]}, "text"]}).encode()
    assert _agrees(body)
    valid, rejected = _read(read_payload(body))
    assert [r[2]["event_id"] for r in valid] == ["ok", "odd"]
    assert [(raw, why.code) for _, raw, why in rejected] == [
        ('{"host": "jobs.lever.co", "schema_hash": "s1", "event_id": "bad", "edit_chars": -1}', "invalid_edit_chars"),
        ('"text"', "not_an_object")]


def test_bodies_whose_decoding_could_differ_are_left_to_read_records():
    base = '"host": "a.lever.co", "schema_hash": "s"'
    for body in [
        '{"events": [{%s, "job": {"x": 1e999}}]}' % base,          # out of range: the whole document is bad JSON
        '{"events": [{%s, "job": {"x": %s}}]}' % (base, "1" * 5000),
        '{"events": [{%s, "job": {"x": NaN}}]}' % base,
        '{"events": [{%s, "gen_style_id": "\\u0000"}]}' % base,    # an escape: inspect's to judge
        '{"events": [{%s, "job": %s}]}' % (base, "[" * 70 + "]" * 70),
        '{"events": [{%s}], "version": 2}' % base,                 # a key the payload does not have
        '{"events": {"a": 1}}', '[{%s}]' % base, '{%s}' % base, '{"events": []} trailing',
        '\ufeff{"events": [{%s}]}' % base,
        '{"events":\n[{%s}]}' % base,                               # pretty-printed: the streaming parser's
        '\n{"events": [{%s}]}' % base,                              # on line 2
    ]:
        assert read_payload(body.encode()) is None, body
    assert read_payload(b'{"events": [{"host": "a.lever.co"}]}\xff') is None
    assert read_payload(b"\xff") is None
    assert read_payload(b'{"events": [{"schema_hash": "\xff"}]}') is None
    assert _agrees(('{"events": [{%s}]}\r\n\n  \n' % base).encode())   # blank lines after it are skipped
