"""Which durable Prometheus counters an ingested event moves (SPEC 7).

Counters never go down, so an event is counted once: when it is first stored, and a field
that a later merge fills in for the first time (late feedback, late edit counts, a late
duration) is counted then. A value that changes later is not counted again.
"""
from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from functools import lru_cache
from typing import Any

from .hosts import DEFAULT_FAMILIES, OTHER

TIME_MS_BUCKETS = (100, 250, 500, 1000, 2500, 5000, 10000, 20000, 30000, 60000, 120000)

RUNS = "applylens_autofill_runs_total"
EDIT_CHARS = "applylens_autofill_edit_chars_total"
TIME_MS = "applylens_autofill_time_ms"
POLICY = "applylens_autofill_policy_total"
PROFILE_USAGE = "applylens_autofill_profile_usage_total"
STYLE_CHOICE = "applylens_autofill_style_choice_total"
PROFILES_UPDATED = "applylens_autofill_profiles_updated_total"
PROFILES_REJECTED = "applylens_autofill_profiles_rejected_total"
AGG_RUNS = "applylens_autofill_agg_runs_total"
MANUAL_PUBLISHES = "stylehint_manual_publishes_total"   # `stylehint publish --as-of D`: an operator's way back
# Outcomes with vs without a profile (not in SPEC 7's table; additive, for the ops question
# "does the Companion help?"): counted once the event says whether a profile was applied.
# Series this project adds use base units: the time to fill in seconds (SPEC's time_ms stays).
PROFILE_RUNS = "applylens_autofill_profile_runs_total"
PROFILE_EDIT_CHARS = "applylens_autofill_profile_edit_chars_total"
PROFILE_EDITED_RUNS = "applylens_autofill_profile_edited_runs_total"
PROFILE_TIME = "applylens_autofill_profile_time_seconds"

Increment = tuple[str, tuple[tuple[str, str], ...], float]


def host_label(host: str, family: str, allowlist: Collection[str] = (),
               families: Mapping[str, tuple[str, ...]] = DEFAULT_FAMILIES) -> str:
    """Bounded ``host`` label: allow-listed hosts as themselves, other ATS hosts as their family's
    domain (``myworkdayjobs.com``), everything else ``other``."""
    if host in allowlist:
        return host
    if family != OTHER and family in families:
        return families[family][0]
    return OTHER


@lru_cache(maxsize=65536)
def _label_pairs(*pairs: tuple[str, Any]) -> tuple[tuple[str, str], ...]:
    """Canonical (sorted, stringified) label pairs; cached, since label values are bounded."""
    return tuple(sorted((k, "" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                        for k, v in pairs))


# An increment before its labels are made canonical: (name, raw label pairs, delta). For a
# histogram the name is the histogram's and the delta the observed value.
RawIncrement = tuple[str, tuple[tuple[str, Any], ...], float]
HISTOGRAMS = frozenset({TIME_MS, PROFILE_TIME})
# Each histogram observes duration_ms on the same bucket edges, in its own unit: the observed
# value is multiplied by the scale, and ``le`` is the edge in that unit as Prometheus writes it.
HISTOGRAM_SCALE = {TIME_MS: 1, PROFILE_TIME: 0.001}
HISTOGRAM_BOUNDS = {
    TIME_MS: tuple(str(b) for b in TIME_MS_BUCKETS) + ("+Inf",),
    PROFILE_TIME: tuple(repr(b / 1000) for b in TIME_MS_BUCKETS) + ("+Inf",),
}


def _raw_increments(old: Mapping[str, Any] | None, new: Mapping[str, Any], host: str) -> Iterator[RawIncrement]:
    if old is None:
        yield RUNS, (("status", new["status"]), ("host", host)), 1
    first = (lambda f: new.get(f) is not None and (old is None or old.get(f) is None))
    if first("effective_edit_chars"):
        yield EDIT_CHARS, (("host", host),), new["effective_edit_chars"]
    if first("duration_ms"):
        yield TIME_MS, (("host", host),), new["duration_ms"]
    if first("policy"):
        yield POLICY, (("policy", new["policy"]), ("host_family", new["host_family"]),
                       ("segment_key", new.get("segment_key"))), 1
    # With vs without a profile: a figure is counted the first time both it and profile_used are known.
    profile = (("profile_used", new.get("profile_used")), ("profile_source", new.get("profile_source")))
    if first("profile_used"):
        yield PROFILE_USAGE, profile, 1
        yield PROFILE_RUNS, (("status", new["status"]), *profile), 1
    both = (lambda f: new.get(f) is not None and new.get("profile_used") is not None
            and (old is None or old.get(f) is None or old.get("profile_used") is None))
    if both("effective_edit_chars"):
        yield PROFILE_EDIT_CHARS, profile, new["effective_edit_chars"]
        yield PROFILE_EDITED_RUNS, profile, 1
    if both("duration_ms"):
        yield PROFILE_TIME, profile, new["duration_ms"]


def _bucket_index(ms: float) -> int:
    """Index of the smallest bucket with ``le >= ms``; ``len(TIME_MS_BUCKETS)`` is ``+Inf``."""
    return bisect_left(TIME_MS_BUCKETS, ms)


class CounterBatch:
    """The summed increments of many events. Each event adds its raw increments (a histogram
    observation is one bucket, not every cumulative one); labels are made canonical and
    buckets cumulative once per series when the batch is read, which is what makes counting
    cheap per event. ``increments()`` equals the sum of ``event_increments`` over the events."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, tuple], float] = defaultdict(float)
        self._observations: dict[tuple[str, tuple], list[float]] = {}   # per-bucket counts, then count, sum

    def add(self, old: Mapping[str, Any] | None, new: Mapping[str, Any], host: str) -> None:
        if old is None:
            self._add_new(new, host)
            return
        for name, pairs, delta in _raw_increments(old, new, host):
            if name in HISTOGRAMS:
                self._observe(name, pairs, delta)
            else:
                self._counters[(name, pairs)] += delta

    def _observe(self, name: str, pairs: tuple, delta: float) -> None:
        slots = self._observations.get((name, pairs))
        if slots is None:
            slots = self._observations[(name, pairs)] = [0.0] * (len(TIME_MS_BUCKETS) + 3)
        slots[_bucket_index(delta)] += 1
        slots[-2] += 1
        slots[-1] += delta * HISTOGRAM_SCALE[name]

    def _add_new(self, new: Mapping[str, Any], host: str) -> None:
        """``_raw_increments(None, new, host)`` written out: a new event is the common case, and
        the generator's tuples and calls were most of the per-event cost (same series, same order)."""
        counters = self._counters
        status, eff, duration = new["status"], new.get("effective_edit_chars"), new.get("duration_ms")
        policy, used = new.get("policy"), new.get("profile_used")
        counters[(RUNS, (("status", status), ("host", host)))] += 1
        if eff is not None:
            counters[(EDIT_CHARS, (("host", host),))] += eff
        if duration is not None:
            self._observe(TIME_MS, (("host", host),), duration)
        if policy is not None:
            counters[(POLICY, (("policy", policy), ("host_family", new["host_family"]),
                               ("segment_key", new.get("segment_key"))))] += 1
        if used is not None:
            profile = (("profile_used", used), ("profile_source", new.get("profile_source")))
            counters[(PROFILE_USAGE, profile)] += 1
            counters[(PROFILE_RUNS, (("status", status), *profile))] += 1
            if eff is not None:
                counters[(PROFILE_EDIT_CHARS, profile)] += eff
                counters[(PROFILE_EDITED_RUNS, profile)] += 1
            if duration is not None:
                self._observe(PROFILE_TIME, profile, duration)

    def absorb(self, other: "CounterBatch") -> None:
        """Add another batch's sums to this one (a batch counted ahead, outside a lock)."""
        counters, observations = self._counters, self._observations
        for key, delta in other._counters.items():
            counters[key] += delta
        for key, slots in other._observations.items():
            mine = observations.get(key)
            if mine is None:
                observations[key] = list(slots)
            else:
                for i, n in enumerate(slots):
                    mine[i] += n

    def increments(self) -> list[Increment]:
        out: list[Increment] = [(name, _label_pairs(*pairs), delta) for (name, pairs), delta in self._counters.items()]
        for (name, pairs), slots in self._observations.items():
            cumulative = 0.0
            for le, n in zip(HISTOGRAM_BOUNDS[name], slots):
                cumulative += n
                if cumulative:
                    out.append((name + "_bucket", _label_pairs(*pairs, ("le", le)), cumulative))
            out.append((name + "_count", _label_pairs(*pairs), slots[-2]))
            out.append((name + "_sum", _label_pairs(*pairs), slots[-1]))
        return out


def event_increments(old: Mapping[str, Any] | None, new: Mapping[str, Any], host: str) -> list[Increment]:
    """Counter increments for storing ``new`` where ``old`` was stored before (None: a new event).

    ``host`` is the already-bounded host label.
    """
    batch = CounterBatch()
    batch.add(old, new, host)
    return batch.increments()
