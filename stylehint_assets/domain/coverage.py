"""Coverage of a snapshot: the share of profiles by hint source (SPEC 7)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from .ranking import SOURCES


def coverage(sources: Iterable[str]) -> dict[str, float | int]:
    """Counts and shares by source, plus ``covered`` = form + segment + family."""
    counts = Counter(sources)
    total = sum(counts.values())
    out: dict[str, float | int] = {"profiles": total}
    for source in SOURCES:
        out[source] = counts.get(source, 0)
        out[f"{source}_share"] = counts.get(source, 0) / total if total else 0.0
    out["covered_share"] = (total - counts.get("none", 0)) / total if total else 0.0
    return out


def coverage_table(cov: dict[str, float | int]) -> str:
    lines = [f"{'source':<8} {'profiles':>9} {'share':>7}"]
    for source in SOURCES:
        lines.append(f"{source:<8} {cov[source]:>9} {cov[f'{source}_share']:>7.1%}")
    lines.append(f"{'total':<8} {cov['profiles']:>9} {'':>7}")
    lines.append(f"covered (form+segment+family): {cov['covered_share']:.1%}")
    return "\n".join(lines)
