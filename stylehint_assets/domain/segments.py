"""Segment derivation from job titles (SPEC 2): whole-word rules, first match wins."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

SEGMENTS = ("intern", "junior", "senior", "default")

_WORDS = re.compile(r"[^\W_]+")
_INTERN = frozenset({"intern", "interns", "internship", "internships", "coop"})
_JUNIOR = frozenset({"junior", "jr", "entry"})
_SENIOR = frozenset({"senior", "sr", "lead", "principal"})


def title_words(title: str) -> list[str]:
    """Lowercase words split on every character that is not a letter or digit."""
    return _WORDS.findall(title.lower())


@lru_cache(maxsize=16384)  # pure, and titles repeat
def segment_from_title(title: str) -> str:
    words = title_words(title)
    ws = set(words)
    if ws & _INTERN or any(a == "co" and b == "op" for a, b in zip(words, words[1:])):
        return "intern"
    if ws & _JUNIOR:
        return "junior"
    if ws & _SENIOR:
        return "senior"
    return "default"


def job_title(job: Any) -> str | None:
    """``job.normalized_title``, else ``job.title``; None when neither is a non-empty string."""
    if not isinstance(job, dict):
        return None
    for key in ("normalized_title", "title"):
        value = job.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def derive_segment(job: Any, client_segment_key: Any) -> str | None:
    """Segment from the job title; else the client's own key if it is a known segment; else None."""
    title = job_title(job)
    if title is not None:
        return segment_from_title(title)
    if isinstance(client_segment_key, str) and client_segment_key in SEGMENTS:
        return client_segment_key
    return None
