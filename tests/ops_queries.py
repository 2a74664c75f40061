"""Read the ops artefacts for tests: PromQL queries on the Grafana dashboards, Prometheus rule files."""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD_DIR = ROOT / "ops" / "grafana" / "dashboards"
RULES_DIR = ROOT / "ops" / "prometheus" / "rules"
RULE_TESTS_DIR = ROOT / "ops" / "prometheus" / "tests"

# Grafana's built-in interval variables, replaced by a plausible duration so that the query
# can be handed to a PromQL parser. Any other `$variable` is left as is (and fails to parse).
GRAFANA_INTERVALS = {"__range": "7d", "__rate_interval": "5m", "__interval": "5m"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def walk_panels(panels: Iterable[dict]) -> Iterator[dict]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels") or ())


def dashboard_queries(path_or_dir: str | Path = DASHBOARD_DIR) -> list[tuple[str, str, str]]:
    """``(dashboard file name, panel title, expr)`` for every PromQL target of a dashboard JSON
    file, or of every ``*.json`` file in a directory, in file and panel order."""
    path = Path(path_or_dir)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    out = []
    for file in files:
        dashboard = json.loads(file.read_text())
        for panel in walk_panels(dashboard.get("panels") or ()):
            for target in panel.get("targets") or ():
                if target.get("expr"):
                    out.append((file.name, panel.get("title", ""), target["expr"]))
    return out


def as_promql(expr: str) -> str:
    """``expr`` with Grafana's interval variables replaced by durations."""
    return _VARIABLE.sub(lambda m: GRAFANA_INTERVALS.get(m[1] or m[2], m[0]), expr)


def rule_files() -> list[Path]:
    """The Prometheus rule files shipped in ops/prometheus/rules."""
    return sorted([*RULES_DIR.glob("*.yml"), *RULES_DIR.glob("*.yaml")])


def rule_test_files() -> list[Path]:
    """The promtool unit-test files shipped in ops/prometheus/tests."""
    return sorted([*RULE_TESTS_DIR.glob("*.yml"), *RULE_TESTS_DIR.glob("*.yaml")])
