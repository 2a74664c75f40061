"""Host normalisation and ATS host families (SPEC 1, 2)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

DEFAULT_FAMILIES: dict[str, tuple[str, ...]] = {
    "greenhouse": ("greenhouse.io",),
    "lever": ("lever.co",),
    "workday": ("myworkdayjobs.com",),
    "ashby": ("ashbyhq.com",),
    "bamboohr": ("bamboohr.com",),
}
OTHER = "other"
MAX_HOST_LENGTH = 253

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


# Hosts are long-tailed: a bounded cache keeps the busy head. On the first 300k of 1M real-shape
# lines (26,301 hosts in all) 4,096 entries answer 78 % of the lookups and 16,384 answer 91 %,
# at the same CPU within noise; but with the larger caches a decoding worker's peak grew with
# the input (93 -> 113 MB from 100k to 1M lines, against 93 -> 98 MB with these).
HOST_CACHE_SIZE = 4096


@lru_cache(maxsize=HOST_CACHE_SIZE)
def normalize_host(value: str) -> str | None:
    """Return the normalised host, or None when it is not a valid DNS name.

    Trim and lowercase; take the hostname of a URL; drop a ``:port`` and a trailing dot.
    """
    host = value.strip().lower()
    if "://" in host:
        try:
            host = urlsplit(host).hostname or ""
        except ValueError:
            return None
    elif ":" in host:
        host, _, port = host.rpartition(":")
        if not port.isdigit():
            return None
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > MAX_HOST_LENGTH:
        return None
    if not all(_LABEL.match(label) for label in host.split(".")):
        return None
    return host


def host_family(host: str, families: Mapping[str, tuple[str, ...]] = DEFAULT_FAMILIES) -> str:
    """The ATS family whose suffix the host equals or ends with on a label boundary."""
    return _host_family(host, tuple(families.items()))


@lru_cache(maxsize=HOST_CACHE_SIZE)
def _host_family(host: str, families: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """Cached (bounded): the ingest asks once per event, and hosts repeat across events."""
    for family, suffixes in families:
        for suffix in suffixes:
            if host == suffix or host.endswith("." + suffix):
                return family
    return OTHER


def parse_families(spec: str) -> dict[str, tuple[str, ...]]:
    """Parse ``name=suffix[,suffix];name=...`` (STYLEHINT_HOST_FAMILIES) on top of the defaults.

    Raises ValueError with the offending part.
    """
    families = dict(DEFAULT_FAMILIES)
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, sep, suffixes = part.partition("=")
        name = name.strip().lower()
        cleaned = tuple(s for s in (normalize_host(x) for x in suffixes.split(",") if x.strip()) if s)
        if not sep or not re.fullmatch(r"[a-z0-9_]+", name) or name == OTHER or not cleaned:
            raise ValueError(f"expected name=suffix[,suffix], got {part!r}")
        families[name] = cleaned
    return families
