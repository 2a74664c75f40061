"""The asset graph on hand-made events (SQLite and PostgreSQL): SPEC 3-6 end to end."""
from dataclasses import replace
from datetime import date, datetime, timedelta

import dagster as dg
import pytest

from stylehint_assets.runner import RunFailed
from stylehint_assets.store.reads import api_view
from stylehint_assets.store.schema import family_style_stats, form_style_stats, segment_style_stats
from stylehint_assets.store.schema import style_hints as style_hints_table

from .graph_helpers import hints, ingest_events, profiles, served, snapshot, table_rows

D = date(2025, 3, 31)
GH, LV = "boards.greenhouse.io", "jobs.lever.co"


def ev(i, host, schema, style, feedback=None, day=D, title="Backend Engineer", **extra):
    return {"event_id": f"{host}-{schema}-{i}-{style}-{day}", "host": host, "schema_hash": schema,
            "created_at": f"{day}T12:00:00Z", "gen_style_id": style, "feedback_status": feedback,
            "job": {"title": title} if title else None, **extra}


def runs(n, host, schema, style, helpful, day=D, title="Backend Engineer", **extra):
    return [ev(f"{day}-{i}", host, schema, style, "helpful" if i < helpful else "unhelpful", day, title, **extra)
            for i in range(n)]


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_each_fallback_level_and_stats(engine, settings, instance):
    events = [
        *runs(6, GH, "form-level", "narrative", 5, title="Senior Engineer"),        # form: 6 runs >= 5
        *runs(2, GH, "seg-level", "bullets", 2, title="Senior Engineer"),           # segment via senior
        *runs(4, GH, "fam-level", "plain", 0, title="Intern"),                      # intern segment: 4 < 5 runs
        *runs(3, "acme.com", "other-form", "narrative", 3),                        # other family: none
        ev("nostyle", LV, "unstyled", None, "helpful"),                             # lever: no styled runs -> none
    ]
    ingest_events(engine, settings, events)
    snapshot(instance, settings, D)

    h = hints(engine, D)
    # intern segment has 4 runs (< 5), and no greenhouse style reaches the family's 10 runs
    assert h[(GH, "fam-level")]["source"] == "none"
    assert h[(GH, "seg-level")]["source"] == "segment" and h[(GH, "seg-level")]["preferred_style_id"] == "narrative"
    assert h[(GH, "form-level")]["preferred_style_id"] == "narrative"
    assert h[("acme.com", "other-form")]["source"] == "none"
    assert h[(LV, "unstyled")]["source"] == "none"
    hint = h[(GH, "seg-level")]["hint"]
    assert hint["segment_key"] == "senior" and hint["host_family"] == "greenhouse" and hint["lookback_days"] == 30
    assert hint["as_of"] == "2025-03-31" and "segment level" in hint["explanation"]
    assert hint["style_stats"]["narrative"] == {"helpful": 5, "unhelpful": 1, "total_runs": 6,
                                                "helpful_ratio": pytest.approx(5 / 6, abs=1e-6), "avg_edit_chars": None}

    form = {(r["schema_hash"], r["gen_style_id"]): r for r in table_rows(engine, form_style_stats, D)}
    assert (form[("form-level", "narrative")]["total_runs"], form[("form-level", "narrative")]["helpful"]) == (6, 5)
    assert ("unstyled", None) not in form
    seg = {(r["host_family"], r["segment_key"], r["gen_style_id"]): r["total_runs"] for r in table_rows(engine, segment_style_stats, D)}
    assert seg == {("greenhouse", "senior", "narrative"): 6, ("greenhouse", "senior", "bullets"): 2,
                   ("greenhouse", "intern", "plain"): 4}
    fam = {(r["host_family"], r["gen_style_id"]): r["total_runs"] for r in table_rows(engine, family_style_stats, D)}
    assert fam == {("greenhouse", "narrative"): 6, ("greenhouse", "bullets"): 2, ("greenhouse", "plain"): 4}


def test_family_level_and_tie_breaks_in_the_database(engine, settings, instance):
    events = [
        *runs(10, LV, "a", "x", 5, title=None, edit_chars=10),
        *runs(10, LV, "b", "y", 5, title=None, edit_chars=30),   # same ratio, more edits
        *runs(10, LV, "c", "z", 5, title=None),                  # same ratio, no edit data: last
        ev("lonely", LV, "d", None, title=None),
    ]
    ingest_events(engine, settings, events)
    snapshot(instance, settings, D)
    h = hints(engine, D)
    assert h[(LV, "d")]["source"] == "family" and h[(LV, "d")]["preferred_style_id"] == "x"
    assert h[(LV, "d")]["segment_key"] is None
    assert h[(LV, "a")]["source"] == "form"


def test_lookback_window_bounds(engine, settings, instance):
    inside = runs(5, GH, "w", "inside", 5, day=D - timedelta(days=29))
    outside = runs(5, GH, "w", "outside", 5, day=D - timedelta(days=30))
    ingest_events(engine, settings, inside + outside)
    snapshot(instance, settings, D)
    styles = {r["gen_style_id"] for r in table_rows(engine, form_style_stats, D)}
    assert styles == {"inside"}


def test_profiles_guard_and_shadow_mode(engine, settings, instance):
    events = [
        *[ev(i, GH, "good", "a", final_map={"#n": "name", "#e": "email" if i % 3 else "mail", "#x": None},
             duration_ms=1000 + i, edit_chars=10) for i in range(6)],
        *[ev(i, GH, "failing", "a", status="ok" if i < 2 else "error") for i in range(5)],     # 0.4 success
        *[ev(i, LV, "edited", "a", edit_chars=600) for i in range(3)],                          # 600 > 500
        *[ev(i, LV, "tie", "a", final_map={"#s": "beta" if i else "alpha"}) for i in range(2)],
    ]
    ingest_events(engine, settings, events)
    snapshot(instance, settings, D)
    p = profiles(engine, D)
    good = p[(GH, "good")]
    assert good["canonical_map"] == {"#e": "email", "#n": "name"}
    assert good["runs"] == 6 and good["success_rate"] == 1.0 and good["avg_edit_chars"] == 10
    assert good["avg_duration_ms"] == 1003   # mean 1002.5 rounds half up
    assert good["served"] and good["last_seen_at"] == datetime(2025, 3, 31, 12)
    assert not p[(GH, "failing")]["served"] and p[(GH, "failing")]["success_rate"] == pytest.approx(0.4)
    assert not p[(LV, "edited")]["served"] and "avg_edit_chars" in p[(LV, "edited")]["reject_reason"]
    assert p[(LV, "tie")]["canonical_map"] == {"#s": "alpha"}

    with engine.connect() as conn:
        view = api_view(conn, GH, "good", profile_enabled=True)
        assert view["served"] and view["canonical_map"] == {"#e": "email", "#n": "name"}
        assert view["style_hint"]["source"] == "form"
        assert api_view(conn, GH, "failing", True)["canonical_map"] == {}
        shadow = api_view(conn, GH, "good", profile_enabled=False)
        assert shadow["canonical_map"] == {} and shadow["style_hint"] is None and "shadow" in shadow["reason"]
    assert served(engine)[(GH, "good")]["served"]          # shadow mode still stores everything


def test_as_of_results_are_reproducible(engine, settings, instance):
    ingest_events(engine, settings, runs(8, GH, "r", "a", 4) + runs(6, LV, "r", "b", 6))
    snapshot(instance, settings, D)
    before = (table_rows(engine, form_style_stats, D), hints(engine, D), profiles(engine, D))

    later = D + timedelta(days=1)
    ingest_events(engine, settings, runs(9, GH, "r", "c", 9, day=later))
    snapshot(instance, settings, later)
    assert hints(engine, later)[(GH, "r")]["preferred_style_id"] == "c"
    assert (table_rows(engine, form_style_stats, D), hints(engine, D), profiles(engine, D)) == before

    snapshot(instance, settings, D)   # recomputing D later gives the same rows
    assert (table_rows(engine, form_style_stats, D), hints(engine, D), profiles(engine, D)) == before
    assert {v["as_of"] for v in served(engine).values()} == {later}   # the newer snapshot stays served


def _check_evaluation(instance, name):
    record = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(dg.AssetKey("style_hints"), name))
    return record.event.dagster_event.event_specific_data


def test_a_sudden_coverage_drop_blocks_publishing(engine, settings, instance):
    ingest_events(engine, settings, runs(6, GH, "k", "a", 3))
    snapshot(instance, settings, D)
    first = served(engine)
    # one covered form, then a second one without any candidate: 100 % -> 50 % covered
    ingest_events(engine, settings, [ev(1, "acme.com", "new", "a", day=D + timedelta(days=1))])
    with pytest.raises(RunFailed, match=r"blocking asset check\(s\) failed: covered_share_drop;"):
        snapshot(instance, settings, D + timedelta(days=1))
    assert served(engine) == first
    assert _check_evaluation(instance, "covered_share_drop").metadata["drop_points"].value == 50.0


def test_a_missed_product_target_publishes_with_a_warning(engine, settings, instance):
    ingest_events(engine, settings, runs(6, GH, "k", "a", 3))
    snapshot(instance, settings, D)
    ingest_events(engine, settings, [ev(1, "acme.com", "new", "a", day=D + timedelta(days=1))])
    strict = replace(settings, kpi_min_coverage=0.99, gate_max_coverage_drop=60)
    snapshot(instance, strict, D + timedelta(days=1))
    assert {v["as_of"] for v in served(engine).values()} == {D + timedelta(days=1)}
    warning = _check_evaluation(instance, "coverage_kpi")
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN


def test_thresholds_nobody_can_reach_are_stopped_by_the_gate(engine, settings, instance):
    ingest_events(engine, settings, runs(6, GH, "k", "a", 3) + runs(6, GH, "m", "b", 4))
    snapshot(instance, settings, D)
    first = served(engine)
    unreachable = replace(settings, min_form_runs=10000, min_segment_runs=10000, min_family_runs=100000)
    with pytest.raises(RunFailed, match="covered_share_drop, some_recommendation"):
        snapshot(instance, unreachable, D + timedelta(days=1))
    assert served(engine) == first


def test_style_by_segment_and_per_host_guard(engine, settings, instance):
    events = [
        *runs(5, GH, "a", "narrative", 4, title="Senior Engineer"),
        *runs(5, GH, "b", "bullets", 5, title="Software Intern", edit_chars=700),
        *runs(3, GH, "c", "plain", 3, title="Junior Dev"),           # junior: too few runs for the segment level
        *runs(5, LV, "d", "plain", 1, title="Senior Engineer", edit_chars=700, status="ok"),
        *[ev(i, LV, "d", None, title="Senior Engineer", status="error") for i in range(5)],   # success 0.5
        # no override for these: another lever host, and the ashby family
        *runs(2, "acme.jobs.lever.co", "e", "plain", 1, title="Senior Engineer"),
        *[ev(i, "acme.jobs.lever.co", "e", None, title="Senior Engineer", status="error") for i in range(2)],
        *runs(3, "jobs.ashbyhq.com", "f", "plain", 3, title="Intern", edit_chars=700),
    ]
    ingest_events(engine, settings, events)
    guarded = replace(settings, quality_overrides=f"greenhouse:max_edit=1000;{LV}:min_success=0.4,max_edit=2000")
    snapshot(instance, guarded, D)
    h = hints(engine, D)
    expected = {"senior": "narrative", "intern": "bullets"}
    assert h[(GH, "c")]["hint"]["style_by_segment"] == expected
    assert h[(GH, "a")]["hint"]["style_by_segment"] == expected
    assert h[(LV, "d")]["hint"]["style_by_segment"] == {"senior": "plain"}
    p = profiles(engine, D)
    assert p[(GH, "b")]["served"]                      # family override lifts max_edit to 1000
    assert p[(LV, "d")]["served"]                      # host override: 0.5 >= 0.4 and 700 <= 2000
    assert not p[("acme.jobs.lever.co", "e")]["served"]          # no override for that host: 0.5 < 0.6
    assert "success_rate" in p[("acme.jobs.lever.co", "e")]["reject_reason"]
    assert not p[("jobs.ashbyhq.com", "f")]["served"]            # no override for ashby: 700 > 500
    assert h[("jobs.ashbyhq.com", "f")]["hint"]["style_by_segment"] == {}    # no segment-level candidate
    assert h[("acme.jobs.lever.co", "e")]["hint"]["style_by_segment"] == {"senior": "plain"}
    snapshot(instance, settings, D)                    # defaults: 700 edit chars is rejected
    assert not profiles(engine, D)[(GH, "b")]["served"]
    assert "success_rate" in profiles(engine, D)[(LV, "d")]["reject_reason"]


def test_ranking_unset_is_ratio_and_wilson_differs_on_small_samples(engine, settings, instance):
    from stylehint_assets.config import Settings
    from stylehint_assets.store.hint_choice import build_style_hints

    events = [
        *runs(6, GH, "f", "lucky", 4, title="Senior Engineer"),        # form: 4/6 = 0.67 on 6 runs
        *runs(60, GH, "f", "steady", 36, title="Senior Engineer"),     # form: 36/60 = 0.60 on 60 runs
        *runs(5, LV, "g", "lucky", 5, title="Intern"),                 # segment lever/intern: 5/5 on 5 runs
        *runs(40, LV, "h", "steady", 36, title="Intern"),              # 36/40 = 0.90 on 40 runs
        ev("x", LV, "i", None, title="Intern"),                        # lever/intern profile without form data
    ]
    ingest_events(engine, settings, events)
    knobs = {"kpi_min_coverage": 0.0, "kpi_max_none": 1.0, "kpi_segment_range": (0.0, 1.0)}
    unset = Settings.from_env({"STYLEHINT_DATABASE_URL": settings.database_url}, **knobs)
    assert unset.ranking == "ratio"

    snapshot(instance, unset, D)                                       # through Dagster, ranking unset
    default_rows = table_rows(engine, style_hints_table, D)
    h = hints(engine, D)
    assert h[(GH, "f")]["preferred_style_id"] == "lucky" and h[(LV, "i")]["preferred_style_id"] == "lucky"
    assert h[(LV, "i")]["hint"]["ranking"] == "ratio"
    assert h[(LV, "i")]["hint"]["style_by_segment"] == {"intern": "lucky"}

    def rebuild(ranking):   # the asset's own function on the stored stats, for one ranking
        with engine.begin() as conn:
            build_style_hints(conn, D, 30, unset.thresholds, ranking)

    rebuild("ratio")
    assert table_rows(engine, style_hints_table, D) == default_rows        # identical, field by field
    rebuild("wilson")
    h = hints(engine, D)
    assert h[(GH, "f")]["preferred_style_id"] == "steady" and h[(LV, "i")]["preferred_style_id"] == "steady"
    assert "95% Wilson lower bound" in h[(GH, "f")]["hint"]["explanation"]
    assert h[(LV, "i")]["hint"]["style_by_segment"] == {"intern": "steady"}
