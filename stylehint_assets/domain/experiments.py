"""Style experiments: what the explore runs say about the currently preferred style.

Over runs with ``policy = explore`` (the bandit's randomised runs, free of the selection bias
of exploit runs), for each (family, segment) every style gets its helpful ratio (helpful /
runs, as SPEC 4) with a 95 % Wilson interval. The preferred style is the one the hints use at
the segment level as of the day (``style_by_segment``).

Decision, "the preferred style is beaten with confidence": each challenger is compared with
the preferred style by the pooled two-proportion z test (one-sided, H1: challenger's helpful
ratio > preferred's). The p-values of the k challengers of one (family, segment) are
Holm-Bonferroni adjusted (so k looks at the same data do not inflate false alarms), and the
preferred style is beaten when an adjusted p-value is below ``alpha`` (0.05) and both styles
have at least ``min_runs`` explore runs (default 10; below that the normal approximation of
the test is not trusted and the row says ``insufficient``). The difference of the best
challenger is reported with Newcombe's hybrid score interval.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .intervals import newcombe_difference, two_proportion_z_test, wilson_interval

ALPHA = 0.05
DEFAULT_MIN_RUNS = 10


def holm_adjust(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1)."""
    ordered = sorted(p_values.items(), key=lambda kv: (kv[1], kv[0]))
    k = len(ordered)
    out, running = {}, 0.0
    for i, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (k - i) * p))
        out[name] = running
    return out


def experiment_report(counts: Iterable[Mapping[str, Any]], preferred: Mapping[tuple[str, str], str],
                      alpha: float = ALPHA, min_runs: int = DEFAULT_MIN_RUNS) -> list[dict[str, Any]]:
    """One entry per (family, segment) from explore counts ``{host_family, segment_key,
    gen_style_id, runs, helpful}`` and the preferred style per (family, segment)."""
    groups: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for r in counts:
        groups.setdefault((r["host_family"], r["segment_key"]), {})[r["gen_style_id"]] = (int(r["helpful"]), int(r["runs"]))
    out = []
    for key in sorted(set(groups) | set(preferred)):
        styles = groups.get(key, {})
        pref = preferred.get(key)
        rows = []
        for style, (helpful, runs) in styles.items():
            low, high = wilson_interval(helpful, runs)
            rows.append({"gen_style_id": style, "runs": runs, "helpful": helpful,
                         "helpful_ratio": helpful / runs if runs else None, "wilson_low": low, "wilson_high": high,
                         "preferred": style == pref})
        rows.sort(key=lambda r: (-(r["helpful_ratio"] or 0.0), r["gen_style_id"]))
        entry: dict[str, Any] = {"host_family": key[0], "segment_key": key[1], "preferred_style_id": pref,
                                 "styles": rows, "beaten": False, "challenger": None, "p_value": None,
                                 "diff": None, "diff_low": None, "diff_high": None}
        if pref is None:
            entry["decision"] = "no preferred style at the segment level"
        elif pref not in styles or styles[pref][1] < min_runs:
            entry["decision"] = f"insufficient: preferred style has fewer than {min_runs} explore runs"
        else:
            ph, pn = styles[pref]
            raw = {s: two_proportion_z_test(h, n, ph, pn)[1] for s, (h, n) in styles.items()
                   if s != pref and n >= min_runs}
            if not raw:
                entry["decision"] = f"insufficient: no challenger with {min_runs}+ explore runs"
            else:
                adjusted = holm_adjust(raw)
                best = min(adjusted, key=lambda s: (adjusted[s], -styles[s][0] / styles[s][1], s))
                h, n = styles[best]
                diff, low, high = newcombe_difference(h, n, ph, pn)
                beaten = adjusted[best] < alpha
                entry.update(challenger=best, p_value=adjusted[best], diff=diff, diff_low=low, diff_high=high,
                             beaten=beaten)
                entry["decision"] = (f"beaten: {best} is better by {diff:+.3f} ({low:+.3f}..{high:+.3f}), "
                                     f"Holm-adjusted one-sided p = {adjusted[best]:.4f} < {alpha}" if beaten else
                                     f"not beaten with confidence: best challenger {best} "
                                     f"({diff:+.3f}, adjusted p = {adjusted[best]:.4f})")
        out.append(entry)
    return out
