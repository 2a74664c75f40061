"""Deterministic synthetic learning events (SPEC 1) from a known ground truth.

Backs ``stylehint demo``, the tests and the benchmarks. The world comes from a stdlib
``random.Random`` seeded from a string (stable across runs, machines and PYTHONHASHSEED); the
event stream's per-day draws are vectorised with numpy (a PCG64 generator seeded from the
stdlib stream), which makes generation several times faster. The same (seed, n_events,
end_day, days) always yields the same events in the same order.

The world: ~400 forms (host, schema_hash) across the five ATS families of SPEC 2 plus ~17 %
"other" hosts; five generation styles whose true helpful rate depends on (family, segment,
style), with a clear best style per segment (per-segment choice matters) and small per-form
effects. Form popularity is a Zipf-like head plus a long tail of rarely used forms: with the
default world and 30,000 events over 30 days about 60 % of the profiles get a form-level hint,
about 30 % a segment-level one, 2-4 % a family-level one and under 10 % none (SPEC 7's
targets), and the mix stays about the same up to 100,000 events.

The real shape (``make_real_world(n_events)``, what the benchmarks use): nearly every job
posting has its own form, so the forms grow with the events, about one seen per ten events,
most of them seen 1-5 times in 30 days; hosts are long-tailed and a few forms ask dozens of
questions (see EVENTS_PER_FORM). Pass it as ``world=`` (CLI: ``--world real``).

Usage: ``python -m stylehint_assets.synthetic --events 30000 --end-day 2025-03-30 [--world real] --out events.ndjson``
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import NormalDist
from typing import Any

__all__ = [
    "STYLES", "DEFAULT_STYLE", "SEGMENTS", "FAMILIES", "TITLES", "Form", "World", "make_world", "make_real_world",
    "generate_events", "generate_ndjson_lines", "write_ndjson", "main",
]

STYLES = (
    "professional_narrative_v1",
    "friendly_bullets_v1",
    "concise_plain_v1",
    "storytelling_v2",
    "formal_brief_v1",
)
DEFAULT_STYLE = "professional_narrative_v1"  # what a fallback run generates with
SEGMENTS = ("intern", "junior", "senior", "default")
FAMILIES = ("greenhouse", "lever", "workday", "ashby", "bamboohr", "other")

# Job titles per intended segment, including the tricky ones of SPEC 2 (word matching, not
# substrings: "Internal Tools Engineer" and "Sentry Developer" are default).
TITLES: dict[str, tuple[str, ...]] = {
    "intern": (
        "Software Engineering Intern", "Co-op Developer", "Data Science Internship",
        "Marketing Intern", "Summer Internship - Product Design", "Coop Student, Hardware",
        "Research Interns (Fall)",
    ),
    "junior": (
        "Jr. Data Analyst", "Entry Level Support", "Junior Frontend Developer", "Junior Accountant",
        "Entry-Level Sales Associate", "Jr Software Engineer",
    ),
    "senior": (
        "Senior Backend Engineer", "Lead Designer", "Principal Engineer", "Sr. Product Manager",
        "Senior Data Scientist", "Tech Lead, Payments", "Principal Product Designer",
    ),
    "default": (
        "Backend Engineer", "Internal Tools Engineer", "Sentry Developer", "Product Designer",
        "Data Analyst", "Customer Success Manager", "Site Reliability Engineer",
        "International Sales Manager", "Account Executive", "Software Engineer II",
        "Staff Engineer", "Recruiting Coordinator",
    ),
}

# True helpful rates = style base + segment preference + small family noise (see _rates).
_STYLE_BASE = {
    "professional_narrative_v1": 0.50,
    "friendly_bullets_v1": 0.45,
    "concise_plain_v1": 0.47,
    "storytelling_v2": 0.42,
    "formal_brief_v1": 0.44,
}
_SEGMENT_BONUS = {
    "intern": {"friendly_bullets_v1": 0.20, "storytelling_v2": 0.10, "formal_brief_v1": -0.08},
    "junior": {"concise_plain_v1": 0.18, "friendly_bullets_v1": 0.06},
    "senior": {"formal_brief_v1": 0.20, "professional_narrative_v1": 0.04, "friendly_bullets_v1": -0.08},
    "default": {"professional_narrative_v1": 0.12, "concise_plain_v1": 0.02},
}
_SEGMENT_MIX = {"intern": 0.15, "junior": 0.20, "senior": 0.25, "default": 0.40}
_FAMILY_MIX = {  # share of hosts
    "greenhouse": 0.29, "lever": 0.16, "workday": 0.16, "ashby": 0.11, "bamboohr": 0.11, "other": 0.17,
}
# Form popularity: a Zipf-like head, weight (rank + offset) ** -exponent, where every form sees
# dozens to thousands of runs a month, and a long tail of rarely used forms that see about one
# run a month at 30,000 events (0.6 to 2, log-uniform). Ranks are shuffled across families.
# The tail is what makes the coverage mix of SPEC 7 (~30 % segment-level hints) and keeps it
# roughly stable from 30,000 to 100,000 events per 30 days.
HEAD_SHARE = 0.50
_ZIPF_EXPONENT = 1.2
_ZIPF_OFFSET = 2.0
_TAIL_RUNS_AT_30K = (0.6, 2.0)
P_JOB_HIDDEN = 0.08  # of tail forms: no segment at all, so they fall back to the family level

_COMPANIES = (
    "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "soylent",
    "vandelay", "aperture", "oscorp", "monarch", "nakatomi", "cyberdyne", "gekko", "sterling", "duff",
    "dunder", "prestige", "virtucon", "zorg", "bluesun", "octan", "ingen", "weyland", "massive",
    "rekall", "polymer", "northwind", "contoso", "fabrikam", "tailspin", "litware", "adatum",
    "proseware", "wingtip", "lucerne", "margie", "fourth-coffee", "alpine", "blue-yonder", "coho",
)
_COMPANY_SUFFIXES = ("", "-labs", "-corp", "-health", "-ai", "-bank", "-energy", "-foods", "-logistics",
                     "-systems", "-cloud", "-games")

# Semantic field names with a rough probability that a form asks for them.
_FIELDS = (
    ("first_name", 0.9), ("last_name", 0.9), ("email", 1.0), ("phone", 0.8), ("resume", 0.85),
    ("cover_letter", 0.35), ("linkedin_url", 0.6), ("github_url", 0.2), ("website_url", 0.25),
    ("location", 0.45), ("work_authorization", 0.4), ("requires_sponsorship", 0.35),
    ("salary_expectation", 0.2), ("start_date", 0.15), ("pronouns", 0.1), ("referral_source", 0.3),
    ("years_experience", 0.15),
)
_SEMANTICS = tuple(name for name, _ in _FIELDS)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


_SELECTOR = {
    "greenhouse": lambda key, i: f"#{key}" if key else f"#job_application_answers_attributes_{i}_text_value",
    "lever": lambda key, i: f"input[name='{key}']" if key else f"textarea[name='cards[{i}][field0]']",
    "workday": lambda key, i: f"[data-automation-id='{_camel(key)}']" if key else f"[data-automation-id='q{i}']",
    "ashby": lambda key, i: f"#_systemfield_{key}" if key else f"#question_{i}",
    "bamboohr": lambda key, i: f"#{_camel(key)}" if key else f"#customQuestion{i}",
}


@dataclass(frozen=True)
class Form:
    """One (host, schema_hash) with its hidden traits."""

    host: str
    schema_hash: str
    family: str
    weight: float  # relative popularity
    segment: str  # dominant segment of its job postings
    fields: tuple[tuple[str, str | None], ...]  # selector -> true semantic (None: custom question)
    success: float  # base probability a run ends "ok"
    edit_factor: float  # multiplies edited characters
    helpful_effect: float  # small additive effect on the helpful rate
    legacy_style: str  # what the form ran before the loop learned anything
    job_hidden: bool = False  # the page shows no job title and the client sends no segment

    @property
    def key(self) -> tuple[str, str]:
        return (self.host, self.schema_hash)

    @property
    def canonical_map(self) -> dict[str, str | None]:
        return dict(self.fields)


@dataclass(frozen=True)
class World:
    """The ground truth the events are drawn from."""

    seed: int
    forms: tuple[Form, ...]
    styles: tuple[str, ...]
    rates: Mapping[tuple[str, str, str], float] = field(hash=False, compare=False, repr=False)

    def true_helpful_rate(self, family: str, segment: str, style: str) -> float:
        """P(helpful | the user gave feedback) for an average form of the family and segment.

        Per-form effects (``Form.helpful_effect``) are within +-0.02. ``helpful_ratio`` as SPEC 4
        defines it (helpful / all runs) is this times the feedback rate (0.7).
        """
        return self.rates[(family, segment, style)]

    def best_style(self, family: str, segment: str) -> str:
        return max(self.styles, key=lambda s: (self.rates[(family, segment, s)], s))

    @property
    def families(self) -> tuple[str, ...]:
        return FAMILIES


def _rates(rng: random.Random) -> dict[tuple[str, str, str], float]:
    rates = {}
    for family in FAMILIES:
        fam_noise = {s: rng.uniform(-0.015, 0.015) for s in STYLES}
        for segment in SEGMENTS:
            for style in STYLES:
                value = (_STYLE_BASE[style] + _SEGMENT_BONUS[segment].get(style, 0.0) + fam_noise[style]
                         + rng.uniform(-0.005, 0.005))
                rates[(family, segment, style)] = round(min(0.95, max(0.05, value)), 4)
    return rates


def _pick(rng: random.Random, mix: Mapping[str, float]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _company_names(rng: random.Random) -> list[str]:
    names = [c + s for c in _COMPANIES for s in _COMPANY_SUFFIXES]
    rng.shuffle(names)
    return names


def _host(rng: random.Random, family: str, company: str, first: bool) -> str:
    if family == "greenhouse":
        return "boards.greenhouse.io" if first else f"{company}.greenhouse.io"
    if family == "lever":
        return "jobs.lever.co" if first else f"{company}.jobs.lever.co"
    if family == "workday":
        return f"{company}.wd{rng.choice((1, 3, 5, 12, 103))}.myworkdayjobs.com"
    if family == "ashby":
        return "jobs.ashbyhq.com" if first else f"{company}.ashbyhq.com"
    if family == "bamboohr":
        return f"{company}.bamboohr.com"
    if first:
        return "jobs.notgreenhouse.io"  # SPEC 2: a suffix match needs a label boundary
    pattern = rng.choice(("careers.{c}.com", "jobs.{c}.io", "{c}.recruitee.com", "apply.{c}.co",
                          "{c}.teamtailor.com", "careers.{c}-corp.com", "{c}.breezy.hr"))
    return pattern.format(c=company)


def _fields(rng: random.Random, family: str) -> tuple[tuple[str, str | None], ...]:
    keys = [name for name, p in _FIELDS if rng.random() < p]
    rng.shuffle(keys)
    n = rng.randint(4, 10)
    n_custom = 1 if rng.random() < 0.5 else rng.choice((0, 2))
    chosen: list[str | None] = keys[: max(1, n - n_custom)] + [None] * n_custom
    chosen = chosen[:n] if len(chosen) >= 4 else chosen + [None] * (4 - len(chosen))
    if family == "other":  # home-grown forms: opaque selectors
        return tuple((f"#field-{i}-{rng.randrange(1000)}", key) for i, key in enumerate(chosen))
    selector = _SELECTOR[family]
    return tuple((selector(key, i), key) for i, key in enumerate(chosen))


def _popularity(rng: random.Random, n_forms: int) -> list[float]:
    """Relative weights, head first; scaled so that the head sums to 30,000 events."""
    n_head = max(1, round(HEAD_SHARE * n_forms))
    head = [(k + _ZIPF_OFFSET) ** -_ZIPF_EXPONENT for k in range(n_head)]
    scale = 30_000 / sum(head)
    lo, hi = (math.log(x) for x in _TAIL_RUNS_AT_30K)
    tail = [math.exp(rng.uniform(lo, hi)) for _ in range(n_forms - n_head)]
    return [w * scale for w in head] + tail


def make_world(seed: int = 7, n_forms: int = 400) -> World:
    """The ground truth for ``seed``: forms, styles and true helpful rates.

    Popularity (see HEAD_SHARE) is shuffled across forms, so every family has busy and rare
    forms. About 4 % of forms fail often and 3 % need heavy edits: the quality guard's rejects.
    """
    if n_forms < 1:
        raise ValueError("n_forms must be >= 1")
    rng = random.Random(f"stylehint-world|{seed}|{n_forms}")
    rates = _rates(rng)
    companies = _company_names(rng)
    forms: list[Form] = []
    seen_hosts: set[str] = set()
    first = {f: True for f in FAMILIES}
    ci = 0
    weights = _popularity(rng, n_forms)
    rng.shuffle(weights)
    while len(forms) < n_forms:
        family = _pick(rng, _FAMILY_MIX)
        while True:
            company = companies[ci % len(companies)] + ("" if ci < len(companies) else str(ci // len(companies)))
            ci += 1
            host = _host(rng, family, company, first[family])
            if host not in seen_hosts:
                break
        first[family] = False
        seen_hosts.add(host)
        n_schemas = rng.choices((1, 2, 3), weights=(0.45, 0.35, 0.20))[0]
        host_segment = _pick(rng, _SEGMENT_MIX)
        for _ in range(min(n_schemas, n_forms - len(forms))):
            quality = rng.random()
            success = rng.uniform(0.35, 0.5) if quality < 0.04 else rng.uniform(0.84, 0.96)
            edit_factor = rng.uniform(6.0, 9.0) if 0.04 <= quality < 0.07 else rng.uniform(0.7, 1.4)
            forms.append(Form(
                host=host,
                schema_hash=f"{rng.getrandbits(64):016x}",
                family=family,
                weight=weights[len(forms)],
                segment=host_segment if rng.random() < 0.6 else _pick(rng, _SEGMENT_MIX),
                fields=_fields(rng, family),
                success=success,
                edit_factor=edit_factor,
                helpful_effect=rng.uniform(-0.02, 0.02),
                legacy_style=rng.choice(STYLES),
                job_hidden=weights[len(forms)] < _TAIL_RUNS_AT_30K[1] and rng.random() < P_JOB_HIDDEN,
            ))
    return World(seed=seed, forms=tuple(forms), styles=STYLES, rates=rates)


# The real shape (``make_real_world``): nearly every job posting has its own form, so the
# forms grow with the events. About one (host, schema_hash) is seen per EVENTS_PER_FORM events;
# a head of HEAD_FORMS_SHARE of the forms (Zipf-like, thousands of runs for the first ones)
# takes REAL_HEAD_EVENTS of the events, and every tail form expects 1 to 6 runs in the window
# (log-uniform), so most forms are seen 1-5 times. Hosts are long-tailed too: the shared job
# boards of each family hold many forms, most company hosts one or two. A few forms ask dozens
# of questions.
EVENTS_PER_FORM = 10
HEAD_FORMS_SHARE = 0.02
REAL_HEAD_EVENTS = 0.45
_REAL_TAIL_RUNS = (1.0, 6.0)
_BOARD_HOSTS = {
    "greenhouse": ("boards.greenhouse.io", "job-boards.greenhouse.io"),
    "lever": ("jobs.lever.co",),
    "ashby": ("jobs.ashbyhq.com",),
}
P_BOARD_HOST = 0.35   # of forms in a family with shared boards
P_BIG_FORM = 0.03     # forms with 20-48 selectors


def _real_popularity(rng: random.Random, n_forms: int, n_events: int) -> list[float]:
    """Expected runs per form over the window, head first (a Zipf-like head, a 1-6 runs tail)."""
    n_head = max(1, round(HEAD_FORMS_SHARE * n_forms))
    head = [(k + _ZIPF_OFFSET) ** -_ZIPF_EXPONENT for k in range(n_head)]
    scale = REAL_HEAD_EVENTS * n_events / sum(head)
    lo, hi = (math.log(x) for x in _REAL_TAIL_RUNS)
    tail = [math.exp(rng.uniform(lo, hi)) for _ in range(n_forms - n_head)]
    return [w * scale for w in head] + tail


def make_real_world(n_events: int, seed: int = 7) -> World:
    """A world of the real shape for ``n_events`` over the window: the forms grow with the events.

    ``n_events / EVENTS_PER_FORM`` forms are *seen* (a few more exist, since a tail form with an
    expected 1-6 runs is sometimes never drawn). Styles, rates and the quality mix are those of
    ``make_world``; popularity is shuffled across forms so every family has busy and rare forms.
    """
    if n_events < 1:
        raise ValueError("n_events must be >= 1")
    target = max(1, n_events // EVENTS_PER_FORM)
    lo, hi = _REAL_TAIL_RUNS
    steps = 200   # P(a tail form is drawn at least once) = E[1 - e^-runs], runs log-uniform
    p_seen = sum(1.0 - math.exp(-lo * (hi / lo) ** ((k + 0.5) / steps)) for k in range(steps)) / steps
    n_forms = max(1, round(target / (HEAD_FORMS_SHARE + (1 - HEAD_FORMS_SHARE) * p_seen)))
    rng = random.Random(f"stylehint-real-world|{seed}|{n_events}")
    rates = _rates(rng)
    companies = _company_names(rng)
    weights = _popularity_shuffled(rng, _real_popularity(rng, n_forms, n_events))
    forms: list[Form] = []
    ci = 0
    while len(forms) < n_forms:
        family = _pick(rng, _FAMILY_MIX)
        boards = _BOARD_HOSTS.get(family)
        if boards and rng.random() < P_BOARD_HOST:
            host, n_schemas = rng.choice(boards), 1
        else:
            company = companies[ci % len(companies)] + ("" if ci < len(companies) else str(ci // len(companies)))
            ci += 1
            host = _host(rng, family, company, False)
            n_schemas = min(int(rng.paretovariate(1.3)) + (rng.random() < 0.4), 400)   # most 1-2, a few hundreds
        host_segment = _pick(rng, _SEGMENT_MIX)
        for _ in range(min(n_schemas, n_forms - len(forms))):
            forms.append(_form(rng, host, family, weights[len(forms)], host_segment,
                               job_hidden_ok=weights[len(forms)] < hi))
    return World(seed=seed, forms=tuple(forms), styles=STYLES, rates=rates)


def _popularity_shuffled(rng: random.Random, weights: list[float]) -> list[float]:
    rng.shuffle(weights)
    return weights


def _form(rng: random.Random, host: str, family: str, weight: float, host_segment: str,
          job_hidden_ok: bool) -> Form:
    quality = rng.random()
    success = rng.uniform(0.35, 0.5) if quality < 0.04 else rng.uniform(0.84, 0.96)
    edit_factor = rng.uniform(6.0, 9.0) if 0.04 <= quality < 0.07 else rng.uniform(0.7, 1.4)
    fields = _fields(rng, family)
    if rng.random() < P_BIG_FORM:   # a long questionnaire: dozens of custom questions
        extra = rng.randint(20, 48) - len(fields)
        custom = _fields_custom(family, len(fields), extra)
        fields = fields + custom
    return Form(
        host=host,
        schema_hash=f"{rng.getrandbits(64):016x}",
        family=family,
        weight=weight,
        segment=host_segment if rng.random() < 0.6 else _pick(rng, _SEGMENT_MIX),
        fields=fields,
        success=success,
        edit_factor=edit_factor,
        helpful_effect=rng.uniform(-0.02, 0.02),
        legacy_style=rng.choice(STYLES),
        job_hidden=job_hidden_ok and rng.random() < P_JOB_HIDDEN,
    )


def _fields_custom(family: str, start: int, n: int) -> tuple[tuple[str, str | None], ...]:
    if family == "other":
        return tuple((f"#question-{i}", f"question_{i}") for i in range(start, start + n))
    selector = _SELECTOR[family]
    return tuple((selector(None, i), f"question_{i}") for i in range(start, start + n))


# Event-level knobs.
P_NO_JOB = 0.05
P_FEEDBACK_NULL = 0.30
P_DOMINANT_SEGMENT = 0.8
P_EXPLOIT_HINT = 0.85  # exploit runs use the learned best style; the rest the form's legacy style
P_MAP_DRIFT = 0.08
DURATION_MEDIAN_MS = 6000.0
DURATION_SIGMA = 0.85
_TABLE = 4096


def _norm_title(title: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", title.lower()))


def _day_counts(rng: random.Random, n_events: int, end_day: date, days: int) -> list[tuple[date, int]]:
    """Events per day: weekends quieter, slight growth, exact total n_events."""
    start = end_day - timedelta(days=days - 1)
    weights = []
    for i in range(days):
        d = start + timedelta(days=i)
        w = (0.55 if d.weekday() >= 5 else 1.0) * (1.0 + 0.2 * i / max(1, days - 1)) * rng.uniform(0.9, 1.1)
        weights.append(w)
    total = sum(weights)
    counts = [int(n_events * w / total) for w in weights]
    remainders = sorted(range(days), key=lambda i: -(n_events * weights[i] / total - counts[i]))
    for i in remainders[: n_events - sum(counts)]:
        counts[i] += 1
    return [(start + timedelta(days=i), c) for i, c in enumerate(counts)]


def generate_events(n_events: int, end_day: date, days: int = 30, seed: int = 7,
                    world: World | None = None) -> Iterator[dict[str, Any]]:
    """``n_events`` learning events (SPEC 1 dicts) with event days in [end_day - days + 1, end_day].

    Deterministic in (seed, n_events, end_day, days) and the world (default ``make_world(seed)``).
    Events come day by day in date order; ``event_id`` is ``syn-{seed}-{i}``. Every record is
    valid when received on end_day + 1. Each event is a fresh dict (safe to mutate).
    """
    _check(n_events, days)
    return _stream(n_events, end_day, days, seed, world, as_json=False)


def generate_ndjson_lines(n_events: int, end_day: date, days: int = 30, seed: int = 7,
                          world: World | None = None) -> Iterator[str]:
    """The same events as ``generate_events``, already encoded as compact JSON lines (no newline).

    Byte for byte ``json.dumps(event, separators=(",", ":"))``, several times faster, because
    the per-form parts (host, maps) are encoded once.
    """
    _check(n_events, days)
    return _stream(n_events, end_day, days, seed, world, as_json=True)


def _check(n_events: int, days: int) -> None:
    if n_events < 0:
        raise ValueError(f"n_events must be >= 0, got {n_events}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _stream(n_events: int, end_day: date, days: int, seed: int, world: World | None,
            as_json: bool) -> Iterator[Any]:
    """Draw the events one day at a time.

    All random draws and decisions of a day are made at once with numpy: uniforms from a PCG64
    generator seeded by the stdlib stream (its float stream is fixed since numpy 1.17), then
    only IEEE basic arithmetic, comparisons and table look-ups, so the results are the same on
    every platform. The Python loop only assembles dicts or JSON lines.
    """
    import numpy as np

    world = world or make_world(seed)
    rng = random.Random(f"stylehint-events|{seed}|{n_events}|{end_day.isoformat()}|{days}")
    gen = np.random.Generator(np.random.PCG64(rng.getrandbits(128)))

    styles = world.styles
    n_styles = len(styles)
    styles_json = [_dumps(x) for x in styles]
    default_style = styles.index(DEFAULT_STYLE) if DEFAULT_STYLE in styles else 0
    seg_cum = np.cumsum([_SEGMENT_MIX[x] for x in SEGMENTS])
    # job titles by segment: (title, normalized, JSON of {"title"}, JSON of both)
    titles = []
    for segment in SEGMENTS:
        pool = []
        for t in TITLES[segment]:
            norm = _norm_title(t)
            pool.append((t, norm, _dumps({"title": t}), _dumps({"title": t, "normalized_title": norm})))
        titles.append(pool)
    n_titles = np.array([len(p) for p in titles])
    client_keys = [(x, x.title()) for x in SEGMENTS]
    client_keys_json = [(_dumps(x), _dumps(x.title())) for x in SEGMENTS]
    nd = NormalDist()
    dur_table = np.array([int(DURATION_MEDIAN_MS * math.exp(DURATION_SIGMA * nd.inv_cdf((k + 0.5) / _TABLE)))
                          for k in range(_TABLE)], dtype=np.int64)
    exp_table = np.array([-math.log(1.0 - (k + 0.5) / _TABLE) for k in range(_TABLE)])
    users = [f"user-{k:05d}" for k in range(6000)]
    apps_rng = random.Random(f"stylehint-apps|{seed}")
    apps = [f"app-{apps_rng.getrandbits(40):010x}" for _ in range(50_000)]
    hhmm = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
    secs = [f"{x:02d}Z" for x in range(60)]
    statuses = ("ok", "validation_error", "cancelled", "error")
    sources = ("server_only", "merged", "local_only", "heuristics_only", None)
    sources_json = [_dumps(x) for x in sources]
    feedbacks = (None, "helpful", "unhelpful")
    feedbacks_json = ("null", '"helpful"', '"unhelpful"')
    policies = ("exploit", "explore", "fallback")
    used_values = (False, True, None)
    used_json = ("false", "true", "null")
    edit_means = np.array([110.0, 35.0, 220.0])  # by feedback: none, helpful, unhelpful
    event_prefix = f"syn-{seed}-"
    json_prefix = '{"event_id":"' + event_prefix

    # Per-form tables.
    forms = world.forms
    prepared = []
    for f in forms:
        canonical = dict(f.fields)
        selectors = [sel for sel, _ in f.fields]
        heur_rng = random.Random(f"heuristic|{world.seed}|{f.host}|{f.schema_hash}")
        heuristic = {sel: (sem if heur_rng.random() < 0.7 else heur_rng.choice((None,) + _SEMANTICS))
                     for sel, sem in f.fields}
        prepared.append((
            f.host, f.schema_hash, canonical, heuristic, selectors, [_dumps(x) for x in selectors],
            '","host":' + _dumps(f.host) + ',"schema_hash":' + _dumps(f.schema_hash) + ',"created_at":"',
            _dumps(canonical), _dumps(heuristic),
        ))
    f_seg = np.array([SEGMENTS.index(f.segment) for f in forms])
    f_success = np.array([f.success for f in forms])
    f_edit = np.array([f.edit_factor for f in forms])
    f_nsel = np.array([len(f.fields) for f in forms])
    f_hidden = np.array([f.job_hidden for f in forms])
    f_legacy = np.array([styles.index(f.legacy_style) for f in forms])
    f_best = np.array([[styles.index(world.best_style(f.family, x)) for x in SEGMENTS] for f in forms])
    f_rates = np.array([[[world.rates[(f.family, x, st)] + f.helpful_effect for st in styles] for x in SEGMENTS]
                        for f in forms])
    cum_weights = np.cumsum([f.weight for f in forms])
    n_forms = len(forms)
    n_sem = len(_SEMANTICS)

    i = 0
    for day, count in _day_counts(rng, n_events, end_day, days):
        if not count:
            continue
        day_prefix = day.isoformat()
        u = gen.random((26, count))
        fidx = np.minimum(np.searchsorted(cum_weights, u[0] * cum_weights[-1], side="right"), n_forms - 1)
        # segment of the run's job: mostly the form's own
        seg = np.where(u[1] < P_DOMINANT_SEGMENT, f_seg[fidx],
                       np.minimum(np.searchsorted(seg_cum, u[2], side="right"), len(SEGMENTS) - 1))
        # policy and style: exploit mostly uses the learned best style (else the form's legacy
        # one), explore any style, fallback the default style or no generation at all
        policy = (u[3] >= 0.75).astype(np.int64) + (u[3] >= 0.95)
        su = u[4]
        exploit = np.where(su < P_EXPLOIT_HINT, f_best[fidx, seg], f_legacy[fidx])
        explore = np.minimum((su * n_styles).astype(np.int64), n_styles - 1)
        style = np.where(policy == 0, exploit, np.where(policy == 1, explore, default_style))
        style = np.where((policy < 2) & (su >= 0.975) | (policy == 2) & (su >= 0.5), -1, style)
        # profile usage: a learned or local map applied
        used_true = (policy != 2) & (u[5] < 0.62)
        used = np.where(used_true, 1, np.where(u[5] < 0.97, 0, 2))
        src_u = u[5] / 0.62
        source = np.where(used_true, (src_u >= 0.55).astype(np.int64) + (src_u >= 0.85),
                          np.where(u[6] < 0.9, 3, 4))
        # status: profile-used runs succeed more often
        p_ok = f_success[fidx] + np.where(used_true, 0.04, -0.03)
        fail_u = (u[7] - p_ok) / np.maximum(1.0 - p_ok, 1e-9)
        status = np.where(u[7] < p_ok, 0, 1 + (fail_u >= 0.55).astype(np.int64) + (fail_u >= 0.85))
        # feedback drawn from the true helpful rate; edits follow it
        no_feedback = (u[8] < P_FEEDBACK_NULL) | (style < 0) & (u[8] < 0.7)
        rate = np.where(style >= 0, f_rates[fidx, seg, np.maximum(style, 0)], 0.45)
        feedback = np.where(no_feedback, 0, np.where(u[9] < rate, 1, 2))
        edit_mean = (edit_means[feedback] * f_edit[fidx] * np.where(used_true, 0.6, 1.0)
                     * np.where(status > 0, 0.5, 1.0))
        edit = (edit_mean * exp_table[(u[10] * _TABLE).astype(np.int64)]).astype(np.int64)
        sec = (u[11] * 86400).astype(np.int64)
        duration = np.where(
            u[12] < 0.04, -1,
            dur_table[(u[13] * _TABLE).astype(np.int64)] * np.where(status > 0, 2, 1) // np.where(used_true, 2, 1)
            + 300)
        nsel = f_nsel[fidx]
        drift_sel = np.where(u[14] < P_MAP_DRIFT, (u[15] * nsel).astype(np.int64), -1)
        drift_sem = np.where(u[16] < 0.5, (u[17] * n_sem).astype(np.int64), -1)
        user = (u[18] * len(users)).astype(np.int64)
        app = (u[19] * len(apps)).astype(np.int64)
        # edits: edit_chars only (55 %), both (20 %), edit_stats only (17 %), neither (8 %)
        has_chars = u[20] < 0.75
        stats_field = np.where((u[20] >= 0.55) & (u[20] < 0.92), (u[21] * nsel).astype(np.int64), -1)
        error_field = np.where(status == 1, (u[22] * nsel).astype(np.int64), -1)
        # job: -1 hidden (segment_key null); -2..-21 only a client segment key (85 % the key,
        # 10 % null, 5 % capitalised, which is not a segment); else title index * 2 + normalized
        ju = u[23]
        job = np.where(f_hidden[fidx], -1, np.where(
            ju < P_NO_JOB, -2 - (ju / P_NO_JOB * 20).astype(np.int64),
            (u[24] * n_titles[seg]).astype(np.int64) * 2 + (u[25] < 0.2)))

        columns = (fidx, seg, policy, style, used, source, status, feedback, edit, sec // 60, sec % 60,
                   duration, drift_sel, drift_sem, user, app, has_chars, stats_field, error_field, job)
        for (fi, sg, pol, sty, usd, src, stat, fb, ed, minute, second, dur, dsel, dsem, usr, ap, chars,
             sfield, efield, jb) in zip(*(c.tolist() for c in columns)):
            host, schema_hash, canonical, heuristic, selectors, selectors_json, form_json, canonical_json, \
                heuristic_json = prepared[fi]
            created_at = day_prefix + hhmm[minute] + secs[second]
            if as_json:
                parts = [
                    json_prefix, str(i), form_json, created_at,
                    '","gen_style_id":', "null" if sty < 0 else styles_json[sty],
                    ',"feedback_status":', feedbacks_json[fb],
                    ',"edit_chars":', str(ed) if chars else "null",
                    ',"duration_ms":', "null" if dur < 0 else str(dur),
                    ',"status":"', statuses[stat],
                    '","suggested_map":', canonical_json if usd == 1 else heuristic_json,
                    ',"final_map":',
                ]
                if dsel < 0:
                    parts.append(canonical_json)
                else:
                    final_map = dict(canonical)
                    final_map[selectors[dsel]] = None if dsem < 0 else _SEMANTICS[dsem]
                    parts.append(_dumps(final_map))
                parts += (',"policy":"', policies[pol], '","profile_used":', used_json[usd],
                          ',"profile_source":', sources_json[src], ',"user_id":"', users[usr],
                          '","application_id":"', apps[ap], '"')
                if sfield >= 0:
                    added = int(ed * 0.7)
                    parts += (',"edit_stats":{"total_chars_added":', str(added), ',"total_chars_deleted":',
                              str(ed - added), ',"per_field":{', selectors_json[sfield], ":", str(ed), "}}")
                if efield >= 0:
                    parts += (',"validation_errors":{', selectors_json[efield], ':"required"}')
                if jb == -1:
                    parts.append(',"segment_key":null}')
                elif jb <= -2:
                    k = -2 - jb
                    parts += (',"segment_key":', client_keys_json[sg][0] if k < 17 else "null" if k < 19
                              else client_keys_json[sg][1], "}")
                else:
                    parts += (',"job":', titles[sg][jb >> 1][2 + (jb & 1)], "}")
                i += 1
                yield "".join(parts)
                continue

            final_map = dict(canonical)
            if dsel >= 0:
                final_map[selectors[dsel]] = None if dsem < 0 else _SEMANTICS[dsem]
            event = {
                "event_id": event_prefix + str(i),
                "host": host,
                "schema_hash": schema_hash,
                "created_at": created_at,
                "gen_style_id": None if sty < 0 else styles[sty],
                "feedback_status": feedbacks[fb],
                "edit_chars": ed if chars else None,
                "duration_ms": None if dur < 0 else dur,
                "status": statuses[stat],
                "suggested_map": dict(canonical if usd == 1 else heuristic),
                "final_map": final_map,
                "policy": policies[pol],
                "profile_used": used_values[usd],
                "profile_source": sources[src],
                "user_id": users[usr],
                "application_id": apps[ap],
            }
            if sfield >= 0:
                added = int(ed * 0.7)
                event["edit_stats"] = {"total_chars_added": added, "total_chars_deleted": ed - added,
                                       "per_field": {selectors[sfield]: ed}}
            if efield >= 0:
                event["validation_errors"] = {selectors[efield]: "required"}
            if jb == -1:
                event["segment_key"] = None
            elif jb <= -2:
                k = -2 - jb
                event["segment_key"] = client_keys[sg][0] if k < 17 else None if k < 19 else client_keys[sg][1]
            else:
                title, normalized = titles[sg][jb >> 1][:2]
                event["job"] = {"title": title, "normalized_title": normalized} if jb & 1 else {"title": title}
            i += 1
            yield event


def write_ndjson(path: str, events: Iterable[Mapping[str, Any] | str], chunk: int = 8192) -> int:
    """Write events as NDJSON (compact JSON, UTF-8); returns the number of lines. ``-`` is stdout.

    Items may be dicts or already-encoded lines (``generate_ndjson_lines``, the fast path).
    """
    encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
    n = 0
    out = sys.stdout if path == "-" else open(path, "w", encoding="utf-8", newline="\n")
    try:
        buf: list[str] = []
        for event in events:
            buf.append(event if isinstance(event, str) else encode(event))
            if len(buf) >= chunk:
                out.write("\n".join(buf))
                out.write("\n")
                n += len(buf)
                buf.clear()
        if buf:
            out.write("\n".join(buf))
            out.write("\n")
            n += len(buf)
    finally:
        if out is not sys.stdout:
            out.close()
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylehint_assets.synthetic",
                                     description="Write deterministic synthetic learning events as NDJSON.")
    parser.add_argument("--events", type=int, default=30_000, help="number of events (default 30000)")
    parser.add_argument("--end-day", type=date.fromisoformat, default=None,
                        help="last event day, YYYY-MM-DD (default: yesterday, UTC)")
    parser.add_argument("--days", type=int, default=30, help="days covered, ending on --end-day (default 30)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="-", help="output file (default stdout)")
    parser.add_argument("--world", choices=("fixed", "real"), default="fixed",
                        help="fixed: ~400 forms whatever the count (default); real: forms grow with the events")
    args = parser.parse_args(argv)
    if args.events < 0 or args.days < 1:
        parser.error("--events must be >= 0 and --days >= 1")
    from datetime import datetime, timezone

    end = args.end_day or (datetime.now(timezone.utc).date() - timedelta(days=1))
    started = time.perf_counter()
    try:
        world = make_real_world(max(1, args.events), seed=args.seed) if args.world == "real" else None
        n = write_ndjson(args.out, generate_ndjson_lines(args.events, end, days=args.days, seed=args.seed, world=world))
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    elapsed = time.perf_counter() - started
    print(f"wrote {n:,} events for {end - timedelta(days=args.days - 1)}..{end} to {args.out} "
          f"in {elapsed:.1f}s ({n / elapsed if elapsed else 0:,.0f} events/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
