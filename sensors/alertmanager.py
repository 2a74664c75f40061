"""Posting alerts to Alertmanager's v2 API (``POST /api/v2/alerts``), standard library only."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

TIMEOUT_SECONDS = 10


class AlertmanagerDown(RuntimeError):
    """Alertmanager did not accept the alerts; they stay in the outbox for the next tick."""


def _rfc3339(at: datetime) -> str:
    return at.replace(microsecond=0).isoformat() + "Z"


def payload(rows: list[dict[str, Any]], now: datetime, active_minutes: int) -> list[dict[str, Any]]:
    """The v2 alert objects; ``endsAt`` bounds how long a one-off failure stays active."""
    return [{
        "labels": row["labels"],
        "annotations": row["annotations"],
        "startsAt": _rfc3339(row["starts_at"]),
        "endsAt": _rfc3339(max(now, row["starts_at"]) + timedelta(minutes=active_minutes)),
        "generatorURL": row.get("generator_url") or "",
    } for row in rows]


def post_alerts(base_url: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - configured URL
            if response.status // 100 != 2:
                raise AlertmanagerDown(f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        raise AlertmanagerDown(f"HTTP {exc.code}: {exc.read()[:200]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AlertmanagerDown(str(getattr(exc, "reason", exc))) from None
