"""SPEC 1-2 rules as plain functions: hosts, families, segments, validation, merge."""
from datetime import date, datetime

import pytest

from stylehint_assets.domain.events import Rejection, derive, effective_edit_chars, merge, validate
from stylehint_assets.domain.hosts import host_family, normalize_host, parse_families
from stylehint_assets.domain.segments import derive_segment, segment_from_title

NOW = datetime(2025, 3, 10, 12, 0)


@pytest.mark.parametrize("raw, expected", [
    ("  Boards.Greenhouse.IO ", "boards.greenhouse.io"),
    ("https://jobs.lever.co/acme/123?x=1", "jobs.lever.co"),
    ("HTTP://Acme.wd5.MyWorkdayJobs.com:443/en-US", "acme.wd5.myworkdayjobs.com"),
    ("example.com:8080", "example.com"),
    ("example.com.", "example.com"),
    ("localhost", "localhost"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
])
def test_host_normalisation(raw, expected):
    assert normalize_host(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "exa mple.com", "a..b", "under_score.com", "-lead.com", "x" * 254,
                                 "http://", "ex!ample.com", "example.com:port", "bücher.de"])
def test_invalid_hosts_are_none(raw):
    assert normalize_host(raw) is None


@pytest.mark.parametrize("host, family", [
    ("greenhouse.io", "greenhouse"),
    ("boards.greenhouse.io", "greenhouse"),
    ("notgreenhouse.io", "other"),
    ("greenhouse.io.evil.com", "other"),
    ("jobs.lever.co", "lever"),
    ("lever.com", "other"),
    ("acme.wd5.myworkdayjobs.com", "workday"),
    ("jobs.ashbyhq.com", "ashby"),
    ("acme.bamboohr.com", "bamboohr"),
    ("careers.acme.com", "other"),
])
def test_host_family_on_label_boundaries(host, family):
    assert host_family(host) == family


def test_families_are_configurable_without_code():
    families = parse_families("icims=icims.com;smartrecruiters=smartrecruiters.com,jobs.smartrecruiters.com")
    assert host_family("careers-acme.icims.com", families) == "icims"
    assert host_family("boards.greenhouse.io", families) == "greenhouse"
    with pytest.raises(ValueError):
        parse_families("broken")


@pytest.mark.parametrize("title, segment", [
    ("Software Engineering Intern", "intern"),
    ("Summer Internship 2025", "intern"),
    ("Interns - Data", "intern"),
    ("Co-op Developer", "intern"),
    ("Co op Student", "intern"),
    ("COOP student", "intern"),
    ("Internal Tools Engineer", "default"),
    ("Jr. Data Analyst", "junior"),
    ("Entry Level Support", "junior"),
    ("Junior Developer", "junior"),
    ("Sentry Developer", "default"),
    ("Senior Backend Engineer", "senior"),
    ("Sr Engineer", "senior"),
    ("Lead Designer", "senior"),
    ("Principal Engineer", "senior"),
    ("Leader of Things", "default"),
    ("Senior Intern", "intern"),          # first rule wins
    ("Junior/Senior Engineer", "junior"),
    ("Backend Engineer", "default"),
    ("Company co-founder operations", "default"),  # co and op not adjacent words
])
def test_segments_match_whole_words_first_rule_wins(title, segment):
    assert segment_from_title(title) == segment


def test_segment_prefers_normalized_title_then_title_then_client_key():
    assert derive_segment({"normalized_title": "intern", "title": "Senior Engineer"}, None) == "intern"
    assert derive_segment({"title": "Senior Engineer"}, "junior") == "senior"
    assert derive_segment({}, "junior") == "junior"
    assert derive_segment(None, "senior") == "senior"
    assert derive_segment(None, "staff") is None
    assert derive_segment(None, None) is None


def _valid(**fields):
    return {"host": "boards.greenhouse.io", "schema_hash": "s1", **fields}


@pytest.mark.parametrize("record, code", [
    ({"schema_hash": "s"}, "missing_host"),
    (_valid(host="not a host"), "invalid_host"),
    (_valid(host=42), "invalid_host"),
    ({"host": "a.com"}, "missing_schema_hash"),
    (_valid(schema_hash=""), "missing_schema_hash"),
    (_valid(schema_hash="x" * 257), "invalid_schema_hash"),
    (_valid(event_id="x" * 129), "invalid_event_id"),
    (_valid(event_id=7), "invalid_event_id"),
    (_valid(created_at="yesterday"), "invalid_created_at"),
    (_valid(created_at="2025-03-11T12:00:01Z"), "created_at_in_future"),
    (_valid(feedback_status="meh"), "invalid_feedback_status"),
    (_valid(status="weird"), "invalid_status"),
    (_valid(edit_chars=-1), "invalid_edit_chars"),
    (_valid(edit_chars=True), "invalid_edit_chars"),
    (_valid(edit_chars=1.5), "invalid_edit_chars"),
    (_valid(duration_ms="12"), "invalid_duration_ms"),
    (_valid(final_map=["a"]), "invalid_final_map"),
    (_valid(suggested_map={"#a": 3}), "invalid_suggested_map"),
    (_valid(edit_stats={"total_chars_added": -2}), "invalid_edit_stats"),
    (_valid(policy="greedy"), "invalid_policy"),
    (_valid(profile_source="cloud"), "invalid_profile_source"),
    (_valid(profile_used="yes"), "invalid_profile_used"),
    (_valid(job="Engineer"), "invalid_job"),
    (_valid(gen_style_id=["x"]), "invalid_gen_style_id"),
    ("just a string", "not_an_object"),
])
def test_rejections_have_codes_and_one_line_reasons(record, code):
    with pytest.raises(Rejection) as info:
        validate(record, NOW)
    assert info.value.code == code
    assert "\n" not in str(info.value) and str(info.value).startswith(code)


def test_valid_record_normalises_and_keeps_unknown_fields():
    event = derive(validate(_valid(host="HTTPS://Boards.Greenhouse.io/x", created_at="2025-03-09T23:30:00-02:00",
                                   edit_stats={"total_chars_added": 3, "total_chars_deleted": 4},
                                   job={"title": "Senior Dev"}, client_version="1.2"), NOW))
    assert event["host"] == "boards.greenhouse.io" and event["host_family"] == "greenhouse"
    assert event["created_at"] == datetime(2025, 3, 10, 1, 30) and event["event_day"] == date(2025, 3, 10)
    assert event["effective_edit_chars"] == 7 and event["segment_key"] == "senior" and event["status"] == "ok"
    assert event["extra"] == {"client_version": "1.2"}


def test_created_at_rules():
    assert validate(_valid(created_at="2025-03-10T08:00:00"), NOW)["created_at"] == datetime(2025, 3, 10, 8)  # naive = UTC
    absent = validate(_valid(), NOW)
    assert absent["created_at"] == NOW and not absent["created_at_explicit"]
    assert validate(_valid(created_at="2025-03-11T12:00:00Z"), NOW)["created_at"] == datetime(2025, 3, 11, 12)  # exactly 24 h


def test_effective_edit_chars():
    assert effective_edit_chars(5, {"total_chars_added": 100}) == 5
    assert effective_edit_chars(None, {"total_chars_added": 2}) == 2
    assert effective_edit_chars(None, {"total_chars_deleted": 0}) == 0
    assert effective_edit_chars(None, {"per_field": {}}) is None
    assert effective_edit_chars(None, None) is None


def test_merge_takes_non_null_fields_and_keeps_the_original_time():
    first = derive(validate(_valid(event_id="e1", created_at="2025-03-01T10:00:00Z", gen_style_id="a",
                                   status="error", job={"title": "Intern"}), NOW))
    retry = validate(_valid(event_id="e1", feedback_status="helpful", gen_style_id=None, edit_chars=12), NOW)
    merged = derive(merge(first, retry))
    assert merged["feedback_status"] == "helpful" and merged["edit_chars"] == 12
    assert merged["gen_style_id"] == "a"                      # null does not erase
    assert merged["status"] == "error"                        # absent status is not "ok" on a merge
    assert merged["created_at"] == datetime(2025, 3, 1, 10)   # a retry without created_at keeps the time
    assert merged["segment_key"] == "intern"
    moved = derive(merge(first, validate(_valid(event_id="e1", created_at="2025-03-02T00:00:00Z"), NOW)))
    assert moved["event_day"] == date(2025, 3, 2)


def test_quality_overrides_host_beats_family_beats_default():
    from stylehint_assets.config import ConfigError, Settings

    s = Settings.from_env({"STYLEHINT_QUALITY_OVERRIDES": "workday:max_edit=800;jobs.lever.co:min_success=0.9",
                           "COMPANION_AUTOFILL_QUALITY_MIN_SUCCESS": "0.5"})
    policy = s.guard_policy
    assert policy.for_profile("acme.wd5.myworkdayjobs.com", "workday").max_edit == 800
    assert policy.for_profile("acme.wd5.myworkdayjobs.com", "workday").min_success == 0.5   # inherited
    assert policy.for_profile("jobs.lever.co", "lever").min_success == 0.9
    assert policy.for_profile("other.lever.co", "lever") == s.guard                         # no override
    assert policy.for_profile("careers.acme.com", "other") == s.guard
    assert policy.for_profile("jobs.lever.co", "lever").verdict(0.8, None) is not None
    assert policy.for_profile("other.lever.co", "lever").verdict(0.8, None) is None
    with pytest.raises(ConfigError, match="STYLEHINT_QUALITY_OVERRIDES"):
        Settings.from_env({"STYLEHINT_QUALITY_OVERRIDES": "workday:speed=3"})


@pytest.mark.parametrize("spec", ["workday:max_edit=nan", "workday:max_edit=inf", "workday:min_success=abc",
                                  "workday:min_success=1.5", "noseparator"])
def test_bad_quality_overrides_name_the_part(spec):
    from stylehint_assets.domain.profiles import QualityGuard, parse_guard_overrides

    with pytest.raises(ValueError, match="workday|noseparator"):
        parse_guard_overrides(spec, QualityGuard())


def test_blank_schema_hash_is_missing():
    with pytest.raises(Rejection) as info:
        validate(_valid(schema_hash="   "), NOW)
    assert info.value.code == "missing_schema_hash"


def test_a_counter_batch_sums_to_the_events_increments():
    """Counting a batch at once (one bucket per observation, cumulative on read) gives the same
    series totals as counting each event alone, merges and histogram buckets included."""
    from collections import defaultdict

    from stylehint_assets.domain.counters import CounterBatch, event_increments

    received = datetime(2025, 3, 30, 12)
    raw = [{"event_id": f"e{i}", "host": "boards.greenhouse.io", "schema_hash": "f", "created_at": "2025-03-30T10:00:00",
            "duration_ms": ms, "status": "ok" if i % 3 else "error", "policy": "exploit", "profile_used": i % 2 == 0,
            "profile_source": "merged", "edit_chars": i if i % 4 else None, "job": {"title": "Senior Engineer"}}
           for i, ms in enumerate([0, 99, 100, 101, 250, 2500, 119999, 120000, 120001, 10**9])]
    events = [derive(validate(r, received)) for r in raw]
    late = derive(merge(events[3], validate({**raw[3], "edit_chars": 7, "duration_ms": None}, received)))
    changes = [(None, e, "greenhouse.io") for e in events] + [({**events[3], "edit_chars": None,
                                                                 "effective_edit_chars": None}, late, "greenhouse.io")]
    expected: dict = defaultdict(float)
    for old, new, host in changes:
        for name, labels, delta in event_increments(old, new, host):
            expected[(name, labels)] += delta
    batch = CounterBatch()
    for old, new, host in changes:
        batch.add(old, new, host)
    got = {(name, labels): delta for name, labels, delta in batch.increments()}
    assert got == dict(expected)
    buckets = {dict(labels)["le"]: v for (name, labels), v in got.items() if name == "applylens_autofill_time_ms_bucket"}
    assert (buckets["100"], buckets["250"], buckets["120000"], buckets["+Inf"]) == (3, 5, 8, 10)
    assert got[("applylens_autofill_time_ms_sum", (("host", "greenhouse.io"),))] == sum(r["duration_ms"] for r in raw)
    halves = CounterBatch(), CounterBatch()       # counted ahead in two batches, then absorbed: the same sums
    for n, (old, new, host) in enumerate(changes):
        halves[n % 2].add(old, new, host)
    whole = CounterBatch()
    whole.absorb(halves[0])
    whole.absorb(halves[1])
    assert {(name, labels): delta for name, labels, delta in whole.increments()} == got


@pytest.mark.parametrize("limit", [10**6, 64])
def test_a_broken_line_in_ndjson_loses_nothing_whether_or_not_the_rest_is_buffered(monkeypatch, limit):
    """A bad line that opens like a JSON document makes the reader try the rest as one pretty-
    printed document, buffering at most MAX_DOCUMENT_BYTES; past that it reads line by line."""
    import io

    import stylehint_assets.domain.records as records

    monkeypatch.setattr(records, "MAX_DOCUMENT_BYTES", limit)
    good = [b'{"event_id": "e%d", "host": "a.lever.co", "schema_hash": "f"}' % i for i in range(5)]
    data = b"\n".join([good[0], b'{"event_id": "broken",', *good[1:]]) + b"\n"
    got = list(records.read_records(io.BytesIO(data)))
    assert [r.rejection.code if r.rejection else r.value["event_id"] for r in got] == \
        ["e0", "bad_json", "e1", "e2", "e3", "e4"]
    assert [r.line_no for r in got] == [1, 2, 3, 4, 5, 6]
    pretty = b'{\n  "event_id": "p1",\n  "host": "a.lever.co",\n  "schema_hash": "f"\n}\n'
    whole = list(records.read_records(io.BytesIO(pretty)))
    assert [r.value["event_id"] for r in whole if not r.rejection] == (["p1"] if limit > len(pretty) else [])
