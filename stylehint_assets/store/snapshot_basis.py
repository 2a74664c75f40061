"""When a window snapshot may be derived from another day's instead of recomputed (SPEC 3).

A window asset's rows as of D are additive over the window's daily partials. They can be
derived exactly from a base snapshot B when the partials B read are still the partials stored:
then window(D) = window(B) + the days entering − the days leaving, and only the forms those days
touch need recomputing. Each snapshot records here what it read (``snapshot_basis``): its window,
a digest of that window's ``daily_partition_state`` rows (a day's partials are rebuilt together
with its state row, so a rebuilt day changes the digest), the settings its rows depend on, and the
base it was derived from. A base qualifies when its recorded digest equals the digest of its
window now and its settings equal today's; otherwise the asset runs cold and says why.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, delete, exists, false, insert, literal, or_, select

from .bulk import staged
from .schema import daily_event_partials as dp, daily_partition_state as st, snapshot_basis as sb

# More changed days than this and a cold rebuild reads less than the delta would.
MAX_CHANGED_DAYS = 4


@dataclass(frozen=True)
class Derivation:
    """How to build a snapshot: from ``base`` (None: cold) plus the ``entering`` days, minus the ``leaving`` days."""
    base: date | None
    entering: tuple[date, ...] = ()
    leaving: tuple[date, ...] = ()
    reason: str = ""

    @property
    def changed(self) -> tuple[date, ...]:
        return self.entering + self.leaving

    def describe(self) -> str:
        if self.base is None:
            return f"cold ({self.reason})"
        return (f"incremental from {self.base}: +{len(self.entering)} day(s) "
                f"{', '.join(map(str, self.entering)) or '-'}, -{len(self.leaving)} day(s) "
                f"{', '.join(map(str, self.leaving)) or '-'}")

    def describe_recomputed(self, rows: int, recomputed: int, what: str) -> str:
        """The derived path's description with how many ``what`` were recomputed and copied."""
        return f"{self.describe()}; {recomputed} {what}(s) recomputed, {rows - recomputed} kept"


def on_days(column, days):
    """``column`` is one of ``days`` (a few; equalities rather than an expanding IN, which a
    staged ``CREATE TABLE … AS`` cannot render)."""
    return or_(*(column == d for d in days)) if days else false()


def touched_groups(conn: Connection, name: str, columns, *where):
    """The distinct ``columns`` of the daily partials that ``where`` selects (the groups the
    entering and leaving days change), staged and indexed for the derivation's joins."""
    keys = [c.name for c in columns]
    return staged(conn, name, select(*(dp.c[k] for k in keys)).where(*where).distinct(), columns, index=keys)


def in_groups(groups, table, keys):
    """SQL: the row of ``table`` is in one of the staged ``groups`` (equal on ``keys``). A
    semi-join, which PostgreSQL estimates near the truth: at 1M real-shape events 117,030 of the
    touched forms' 161,673 map rows, where an inner join on the two text keys came out at 207
    and was sorted on disk instead of hashed."""
    return exists(select(literal(1)).where(*(groups.c[k] == table.c[k] for k in keys)))


def digest(*parts) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def partials_digest(conn: Connection, start: date, end: date) -> str:
    """Digest of what the partials of ``start..end`` folded in: one state row per day with events."""
    rows = conn.execute(select(st.c.event_day, st.c.events, st.c.max_updated_at, st.c.materialized_at)
                        .where(st.c.event_day.between(start, end)).order_by(st.c.event_day)).all()
    return digest(start, end, *(tuple(r) for r in rows))


def basis_of(conn: Connection, asset: str, as_of: date):
    return conn.execute(select(sb).where(sb.c.as_of == as_of, sb.c.asset == asset)).mappings().first()


def record(conn: Connection, asset: str, as_of: date, start: date, end: date, inputs: str, settings: str,
           base: date | None, now: datetime) -> None:
    """Replace the basis of ``asset`` as of ``as_of`` (in the transaction that wrote its rows)."""
    conn.execute(delete(sb).where(sb.c.as_of == as_of, sb.c.asset == asset))
    conn.execute(insert(sb).values(as_of=as_of, asset=asset, window_start=start, window_end=end, inputs=inputs,
                                   settings=settings, base_as_of=base, built_at=now))


def days_between(start: date, end: date) -> set[date]:
    return {start + timedelta(days=i) for i in range((end - start).days + 1)}


def window_derivation(conn: Connection, asset: str, as_of: date, start: date, end: date, settings: str) -> Derivation:
    """The base to derive ``asset`` as of ``as_of`` (window ``start..end``) from: the snapshot of
    the day before (the six-hourly run) or after (a backfill running newest first), if its
    window's partials are unchanged since it was built and it used the same settings."""
    reasons = []
    for candidate in (as_of - timedelta(days=1), as_of + timedelta(days=1)):
        row = basis_of(conn, asset, candidate)
        if row is None:
            reasons.append(f"no basis recorded for {candidate}")
            continue
        if row["settings"] != settings:
            reasons.append(f"{candidate} was built with other settings")
            continue
        if partials_digest(conn, row["window_start"], row["window_end"]) != row["inputs"]:
            reasons.append(f"partials of {candidate}'s window were rebuilt since")
            continue
        old, new = days_between(row["window_start"], row["window_end"]), days_between(start, end)
        entering, leaving = tuple(sorted(new - old)), tuple(sorted(old - new))
        if len(entering) + len(leaving) > MAX_CHANGED_DAYS:
            reasons.append(f"{candidate}'s window differs by more than {MAX_CHANGED_DAYS} days")
            continue
        return Derivation(candidate, entering, leaving)
    return Derivation(None, reason="; ".join(reasons))
