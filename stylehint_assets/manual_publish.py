"""Re-publishing a stored snapshot by hand (``stylehint publish --as-of D``): the operator's way back.

Only a snapshot that the store holds and whose blocking checks passed in their newest evaluation
for that day is published; it replaces the served table even when a newer snapshot is published
(that is the point: a rollback). It is recorded like a scheduled publish (``publish_state``, the
style-choice and profile counters, the last-success gauge, the Pushgateway, a materialization of
``served_form_profiles`` in the Dagster instance), and in addition counted in
``stylehint_manual_publishes_total`` and alerted (severity ``info``), so a rollback is never silent.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

import dagster as dg

from resources import LearningStore
from sensors.alerts import deliver
from sensors.instance_history import latest_check_outcome

from .config import Settings
from .domain.counters import MANUAL_PUBLISHES
from .metrics.push import push_run_series
from .store import alerts as outbox
from .store.counters import add_increments
from .store.reads import published_as_of, snapshot_exists
from .store.snapshots import PublishResult, publish

log = logging.getLogger(__name__)
SERVED = dg.AssetKey("served_form_profiles")


class PublishRefused(RuntimeError):
    """The snapshot cannot be re-published; nothing was changed."""


@dataclass(frozen=True)
class ManualPublish:
    result: PublishResult
    previous_as_of: date | None
    alert: str            # "sent", "queued (...)" or "not configured"


def blocking_checks(defs: dg.Definitions) -> list[dg.AssetCheckKey]:
    """Blocking checks of the assets the served table is built from (they gate every publish)."""
    graph = defs.resolve_asset_graph()
    upstream, todo = set(), [SERVED]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in upstream:
                upstream.add(parent)
                todo.append(parent)
    return sorted((spec.key for a in defs.assets if isinstance(a, dg.AssetsDefinition) for spec in a.check_specs
                   if spec.blocking and spec.asset_key in upstream), key=lambda k: k.to_user_string())


def check_problems(instance: dg.DagsterInstance, defs: dg.Definitions, as_of: date) -> list[str]:
    """Why the snapshot's checks do not allow a publish: failed ERROR checks, checks that never ran."""
    problems = []
    for key in blocking_checks(defs):
        outcome = latest_check_outcome(instance, key, as_of.isoformat())
        if outcome is None:
            problems.append(f"{key.name} never ran for it")
        elif not outcome[0] and outcome[1] == "ERROR":
            problems.append(f"{key.name} failed")
    return problems


def manual_publish_alert(as_of: date, previous: date | None, result: PublishResult, operator: str,
                         settings: Settings, now: datetime) -> dict:
    summary = f"Snapshot as of {as_of} re-published by hand (was {previous or 'nothing'})"
    return {
        "dedupe_key": f"publish:{as_of}:{now.isoformat()}",
        "severity": "info",
        "labels": {"alertname": "StylehintManualPublish", "service": "stylehint", "asset": SERVED.to_user_string(),
                   "check": "", "severity": "info", "partition": as_of.isoformat()},
        "annotations": {"summary": summary,
                        "description": f"{operator} ran `stylehint publish --as-of {as_of}`: {result.profiles} "
                                       f"profiles, {result.served} served", "run_id": "", "run_url": ""},
        "generator_url": f"{settings.ui_url}/assets/{SERVED.to_user_string()}", "starts_at": now,
        "created_at": now, "attempts": 0,
    }


def publish_by_hand(store: LearningStore, instance: dg.DagsterInstance, defs: dg.Definitions, settings: Settings,
                    as_of: date, operator: str, now: datetime) -> ManualPublish:
    with store.connect() as conn:
        if not snapshot_exists(conn, as_of):
            raise PublishRefused(f"no snapshot as of {as_of} in the learning store")
    problems = check_problems(instance, defs, as_of)
    if problems:
        raise PublishRefused(f"the snapshot as of {as_of} did not pass its blocking checks ({'; '.join(problems)})")
    with store.transaction() as conn:   # publish, count and queue the alert together
        previous = published_as_of(conn)[0]
        result = publish(conn, as_of, now, run_id=None, allow_older=True)
        add_increments(conn, [(MANUAL_PUBLISHES, (), 1)])
        if settings.alertmanager_url:   # without one the alert would wait for a sensor that never posts
            outbox.enqueue(conn, [manual_publish_alert(as_of, previous, result, operator, settings, now)])
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=SERVED, partition=as_of.isoformat(),
        description=f"re-published by hand by {operator}",
        metadata={"published": True, "manual": True, "profiles": result.profiles, "served": result.served,
                  "previous_as_of": str(previous), "published_as_of": str(as_of)}))
    push_run_series(store.engine, settings)   # a no-op without PROMETHEUS_PUSHGATEWAY_URL
    alert = "not posted (STYLEHINT_ALERTMANAGER_URL is empty)"
    if settings.alertmanager_url:
        sent, waiting, error = deliver(store, settings, now, log)
        alert = "sent" if not error else f"queued: Alertmanager did not take it ({error}); the alerts sensor retries"
    return ManualPublish(result, previous, alert)
