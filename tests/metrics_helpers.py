"""Reading exported metrics back: the exposition text parsed by prometheus-client's own parser."""
from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from stylehint_assets.metrics.server import registry_for


def exposition(engine, settings) -> str:
    return generate_latest(registry_for(engine, settings, cache_seconds=0)).decode()


def samples(text: str, impact: bool = False) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of an exposition text; the learning_impact gauges
    (NaN where a figure has no data, so not comparable with ==) only with ``impact=True``."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not impact and s.name.startswith("applylens_autofill_impact_"):
                continue
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(parsed, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in parsed.items() if n == name and all(dict(ls).get(k) == x for k, x in labels.items()))


def label_values(parsed, name: str, label: str) -> set[str]:
    return {dict(ls)[label] for (n, ls) in parsed if n == name and label in dict(ls)}
