"""The settings resource: every tuning knob, validated once at load (see stylehint_assets.config)."""
from __future__ import annotations

from stylehint_assets.config import Settings


def settings_from_env() -> Settings:
    """Read and validate the environment; an invalid value raises ConfigError naming the variable."""
    return Settings.from_env()
