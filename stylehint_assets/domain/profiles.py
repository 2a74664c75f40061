"""Form profile quality guard and the served view (SPEC 6).

The figures, segment, canonical map and this guard's verdict for every profile of a window
are one set-based statement in ``store/profile_figures.py``."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class QualityGuard:
    min_success: float = 0.6
    max_edit: float = 500.0

    def verdict(self, success_rate: float, avg_edit_chars: float | None) -> str | None:
        """None when the profile is served; otherwise the one-line reason it is rejected."""
        if success_rate < self.min_success:
            return f"success_rate {success_rate:.3f} < {self.min_success}"
        if avg_edit_chars is not None and avg_edit_chars > self.max_edit:
            return f"avg_edit_chars {avg_edit_chars:.1f} > {self.max_edit}"
        return None


@dataclass(frozen=True)
class GuardPolicy:
    """The quality guard per profile: a host override beats a family override beats the default."""

    default: QualityGuard = QualityGuard()
    by_family: Mapping[str, QualityGuard] = field(default_factory=dict)
    by_host: Mapping[str, QualityGuard] = field(default_factory=dict)

    def for_profile(self, host: str, family: str) -> QualityGuard:
        return self.by_host.get(host) or self.by_family.get(family) or self.default


def parse_guard_overrides(spec: str, default: QualityGuard) -> tuple[dict[str, QualityGuard], dict[str, QualityGuard]]:
    """``key:min_success=0.5,max_edit=800;key2:...`` where key is a host (has a dot) or a family.

    Unset figures inherit the default. Raises ValueError naming the bad part.
    """
    families: dict[str, QualityGuard] = {}
    hosts: dict[str, QualityGuard] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        key, sep, body = part.partition(":")
        key = key.strip().lower()
        if not sep or not key:
            raise ValueError(f"expected key:min_success=..,max_edit=.., got {part!r}")
        figures = {"min_success": default.min_success, "max_edit": default.max_edit}
        for item in filter(None, (x.strip() for x in body.split(","))):
            name, eq, value = item.partition("=")
            if not eq or name.strip() not in figures:
                raise ValueError(f"unknown figure {item!r} in {part!r} (min_success, max_edit)")
            try:
                figures[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"{item!r} in {part!r} is not a number") from None
        if not 0 <= figures["min_success"] <= 1 or not 0 <= figures["max_edit"] < float("inf"):
            raise ValueError(f"out of range in {part!r} (min_success 0-1, max_edit >= 0)")
        (hosts if "." in key else families)[key] = QualityGuard(figures["min_success"], figures["max_edit"])
    return families, hosts


def served_view(profile: dict[str, Any] | None, profile_enabled: bool) -> dict[str, Any]:
    """What the extension's API returns for one form: empty map and no hint unless served and enabled."""
    empty = {"canonical_map": {}, "style_hint": None, "served": False}
    if profile is None:
        return {**empty, "reason": "unknown form"}
    base = {k: profile[k] for k in ("host", "schema_hash", "as_of") if k in profile}
    if not profile_enabled:
        return {**base, **empty, "reason": "shadow mode (COMPANION_AUTOFILL_PROFILE_ENABLED=0)"}
    if not profile.get("served"):
        return {**base, **empty, "reason": profile.get("reject_reason") or "rejected by the quality guard"}
    return {**base, "canonical_map": profile["canonical_map"], "style_hint": profile["style_hint"], "served": True}
