"""The alert outbox: alerts are stored before they are posted, and marked sent (with the
``stylehint_alerts_sent_total`` counter) in one transaction after Alertmanager accepted them."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .counters import add_increments
from .schema import alert_outbox

ALERTS_SENT = "stylehint_alerts_sent_total"
ALERT_SEVERITIES = ("error", "warning")   # the alert rows' severity label


def enqueue(conn: Connection, alerts: Iterable[dict[str, Any]]) -> int:
    """Store new alerts; one already stored under the same ``dedupe_key`` is left as it is."""
    rows = list(alerts)
    if not rows:
        return 0
    keys = [r["dedupe_key"] for r in rows]
    known = set(conn.execute(select(alert_outbox.c.dedupe_key)
                             .where(alert_outbox.c.dedupe_key.in_(bindparam("keys", expanding=True))),
                             {"keys": keys}).scalars())
    new = [r for r in {r["dedupe_key"]: r for r in rows}.values() if r["dedupe_key"] not in known]
    if new:   # on_conflict: a concurrent tick that stored the same alert first wins
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(alert_outbox).on_conflict_do_nothing(index_elements=["dedupe_key"]), new)
    return len(new)


def pending(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Unsent alerts, oldest first."""
    q = select(alert_outbox).where(alert_outbox.c.sent_at.is_(None)).order_by(alert_outbox.c.id).limit(limit)
    return [dict(r) for r in conn.execute(q).mappings()]


def mark_sent(conn: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
    conn.execute(update(alert_outbox).where(alert_outbox.c.id == bindparam("key_id"))
                 .values(sent_at=now, attempts=alert_outbox.c.attempts + 1, last_error=None),
                 [{"key_id": r["id"]} for r in rows])
    add_increments(conn, [(ALERTS_SENT, (("severity", r["severity"]),), 1) for r in rows])


def mark_failed(conn: Connection, rows: list[dict[str, Any]], error: str) -> None:
    conn.execute(update(alert_outbox).where(alert_outbox.c.id == bindparam("key_id"))
                 .values(attempts=alert_outbox.c.attempts + 1, last_error=error[:1000]),
                 [{"key_id": r["id"]} for r in rows])
