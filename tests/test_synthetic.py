"""The synthetic generator: deterministic, valid per SPEC 1, and meets SPEC 7's coverage mix."""
import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

import pytest

from stylehint_assets.domain.events import derive, validate
from stylehint_assets.domain.hosts import host_family
from stylehint_assets.domain.ranking import StyleStat, best_style, choose_hint, profile_segment
from stylehint_assets.domain.segments import segment_from_title
from stylehint_assets.synthetic import (
    SEGMENTS,
    STYLES,
    TITLES,
    generate_events,
    generate_ndjson_lines,
    main,
    make_world,
    write_ndjson,
)

END = date(2025, 3, 30)


# --- a small reference of SPEC 4-5, independent of the store and the asset graph ---------------

def _stats(groups: dict) -> dict:
    """{group key: [StyleStat]} from {(group key, style): [events]}."""
    out = defaultdict(list)
    for (key, style), evs in groups.items():
        edits = [e["effective_edit_chars"] for e in evs if e["effective_edit_chars"] is not None]
        out[key].append(StyleStat(
            style, len(evs),
            sum(e["feedback_status"] == "helpful" for e in evs),
            sum(e["feedback_status"] == "unhelpful" for e in evs),
            sum(edits), len(edits),
        ))
    return out


def reference_hints(records, as_of: date, lookback: int = 30) -> dict:
    """{(host, schema_hash): HintChoice} as of ``as_of`` per SPEC 3-5 with default thresholds."""
    received = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    first = as_of - timedelta(days=lookback - 1)
    events = [derive(validate(r, received)) for r in records]
    events = [e for e in events if first <= e["event_day"] <= as_of]
    form, segment, family = defaultdict(list), defaultdict(list), defaultdict(list)
    profiles = defaultdict(Counter)
    for e in events:
        key = (e["host"], e["schema_hash"])
        profiles[key][e["segment_key"]] += 1
        style = e["gen_style_id"]
        if style is None:
            continue
        form[(key, style)].append(e)
        if e["host_family"] != "other":
            family[(e["host_family"], style)].append(e)
            if e["segment_key"] is not None:
                segment[((e["host_family"], e["segment_key"]), style)].append(e)
    form_s, seg_s, fam_s = _stats(form), _stats(segment), _stats(family)
    hints = {}
    for key, seg_counts in profiles.items():
        fam = host_family(key[0])
        seg = profile_segment(dict(seg_counts))
        hints[key] = choose_hint(fam, seg, form_s.get(key, []), seg_s.get((fam, seg), []), fam_s.get(fam, []))
    return hints


def coverage_shares(hints: dict) -> dict:
    counts = Counter(h.source for h in hints.values())
    total = sum(counts.values())
    return {s: counts.get(s, 0) / total for s in ("form", "segment", "family", "none")}


# --- tests ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def events_30k():
    return list(generate_events(30_000, END, days=30, seed=7))


def test_deterministic():
    a = list(generate_events(2_000, END, days=30, seed=3))
    b = list(generate_events(2_000, END, days=30, seed=3))
    assert a == b
    assert json.dumps(a) == json.dumps(b)
    assert make_world(3) == make_world(3)
    c = list(generate_events(2_000, END, days=30, seed=4))
    assert a != c
    d = list(generate_events(2_000, END - timedelta(days=1), days=30, seed=3))
    assert [e["created_at"] for e in a] != [e["created_at"] for e in d]


@pytest.mark.parametrize("n, days", [(0, 30), (1, 30), (7, 30), (1_234, 7), (5_000, 1)])
def test_size_and_day_range(n, days):
    events = list(generate_events(n, END, days=days, seed=5))
    assert len(events) == n
    first = END - timedelta(days=days - 1)
    for e in events:
        assert e["created_at"].endswith("Z")
        assert first <= date.fromisoformat(e["created_at"][:10]) <= END
    assert len({e["event_id"] for e in events}) == n


def test_every_record_valid_and_segments_as_intended(events_30k):
    received = datetime.combine(END + timedelta(days=1), datetime.min.time())
    world = make_world(7)
    known = {f.key: f for f in world.forms}
    days = set()
    for record in events_30k:
        e = derive(validate(record, received))
        assert (e["host"], e["schema_hash"]) in known
        assert e["host"] == record["host"]  # hosts are generated already normalised
        assert e["host_family"] == known[(e["host"], e["schema_hash"])].family
        days.add(e["event_day"])
    assert days == {END - timedelta(days=i) for i in range(30)}


def test_titles_derive_their_intended_segment():
    for segment, titles in TITLES.items():
        for title in titles:
            assert segment_from_title(title) == segment, title
    assert segment_from_title("Internal Tools Engineer") == "default"
    assert segment_from_title("Sentry Developer") == "default"


def test_field_mix(events_30k):
    n = len(events_30k)
    share = lambda pred: sum(1 for e in events_30k if pred(e)) / n  # noqa: E731
    assert 0.03 < share(lambda e: "job" not in e) < 0.07
    assert all(e.get("segment_key") in (*SEGMENTS, None, *(s.title() for s in SEGMENTS))
               for e in events_30k if "job" not in e)
    assert 0.03 < share(lambda e: e["gen_style_id"] is None) < 0.08
    assert {e["gen_style_id"] for e in events_30k} - {None} == set(STYLES)
    assert 0.25 < share(lambda e: e["feedback_status"] is None) < 0.36
    assert 0.84 < share(lambda e: e["status"] == "ok") < 0.91
    assert {e["status"] for e in events_30k} == {"ok", "validation_error", "cancelled", "error"}
    assert 0.72 < share(lambda e: e["policy"] == "exploit") < 0.78
    assert 0.17 < share(lambda e: e["policy"] == "explore") < 0.23
    assert share(lambda e: e.get("edit_chars") is None and "edit_stats" in e) > 0.1
    assert share(lambda e: e.get("edit_chars") is None and "edit_stats" not in e) > 0.03
    assert share(lambda e: e["duration_ms"] is None) > 0.02
    durations = sorted(e["duration_ms"] for e in events_30k if e["duration_ms"] is not None)
    assert 400 <= durations[len(durations) // 20] and durations[-len(durations) // 20] <= 60_000
    assert all(4 <= len(e["final_map"]) <= 10 for e in events_30k)
    assert any(None in e["final_map"].values() for e in events_30k)
    assert any(host_family(e["host"]) == "other" for e in events_30k)


def test_profile_used_runs_do_better(events_30k):
    def rates(used):
        evs = [e for e in events_30k if e["profile_used"] is used]
        ok = sum(e["status"] == "ok" for e in evs) / len(evs)
        edits = [e["edit_chars"] for e in evs if e["edit_chars"] is not None]
        return ok, sum(edits) / len(edits)

    ok_used, edit_used = rates(True)
    ok_not, edit_not = rates(False)
    assert ok_used > ok_not + 0.03
    assert edit_used < 0.8 * edit_not


def test_popularity_is_skewed(events_30k):
    runs = Counter((e["host"], e["schema_hash"]) for e in events_30k)
    counts = sorted(runs.values(), reverse=True)
    assert counts[0] > 20 * counts[len(counts) // 2]
    assert sum(c < 5 for c in counts) > 0.2 * len(counts)


def test_world_truth():
    world = make_world()
    assert len(world.forms) == 400
    assert len({f.key for f in world.forms}) == 400
    per_host = Counter(f.host for f in world.forms)
    assert max(per_host.values()) <= 3
    other = sum(1 for h in per_host if host_family(h) == "other") / len(per_host)
    assert 0.12 <= other <= 0.22
    assert {host_family(h) for h in per_host} == {"greenhouse", "lever", "workday", "ashby", "bamboohr", "other"}
    assert "jobs.notgreenhouse.io" in per_host
    for family in ("greenhouse", "workday"):
        best = {s: world.best_style(family, s) for s in SEGMENTS}
        assert len(set(best.values())) >= 3, best  # per-segment choice matters
        for s in SEGMENTS:
            rates = sorted((world.true_helpful_rate(family, s, st) for st in STYLES), reverse=True)
            assert rates[0] - rates[1] >= 0.05


def test_coverage_targets_at_30k(events_30k):
    hints = reference_hints(events_30k, END)
    shares = coverage_shares(hints)
    covered = shares["form"] + shares["segment"] + shares["family"]
    assert covered >= 0.80, shares
    assert shares["none"] < 0.20, shares
    assert 0.25 <= shares["segment"] <= 0.35, shares


def test_hints_recover_the_truth(events_30k):
    """Segment-level hints name the world's best style for the (family, segment).

    By plain helpful ratio a style explored only a few times sometimes wins by luck; ranking by
    the Wilson lower bound (ranking="wilson") removes nearly all of those misses.
    """
    world = make_world(7)
    hints = reference_hints(events_30k, END)
    seg_hints = [h for h in hints.values() if h.source == "segment"]
    right = {"ratio": 0, "wilson": 0}
    for h in seg_hints:
        family, segment = h.tried[1].scope.split("/")
        truth = world.best_style(family, segment)
        right["ratio"] += h.preferred.gen_style_id == truth
        right["wilson"] += best_style(h.tried[1].candidates, "wilson").gen_style_id == truth
    assert right["ratio"] >= 0.6 * len(seg_hints), right
    assert right["wilson"] >= 0.9 * len(seg_hints), right


def test_ndjson_lines_are_the_events_encoded(events_30k):
    lines = list(generate_ndjson_lines(30_000, END, days=30, seed=7))
    assert len(lines) == len(events_30k)
    for line, event in zip(lines, events_30k):
        assert line == json.dumps(event, separators=(",", ":"))


def test_world_argument_is_used():
    world = make_world(seed=1, n_forms=25)
    events = list(generate_events(1_000, END, seed=7, world=world))
    assert {(e["host"], e["schema_hash"]) for e in events} <= {f.key for f in world.forms}


def test_write_ndjson_and_main(tmp_path):
    events = list(generate_events(500, END, seed=9))
    path = tmp_path / "e.ndjson"
    assert write_ndjson(str(path), iter(events)) == 500
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == events
    fast = tmp_path / "f.ndjson"
    assert write_ndjson(str(fast), generate_ndjson_lines(500, END, seed=9)) == 500
    assert fast.read_bytes() == path.read_bytes()
    out = tmp_path / "m.ndjson"
    assert main(["--events", "300", "--end-day", "2025-03-30", "--seed", "9", "--out", str(out)]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == list(generate_events(300, END, seed=9))
