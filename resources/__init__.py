"""Dagster resources: the learning store and the settings."""
from .learning_store import LearningStore
from .settings import settings_from_env

__all__ = ["LearningStore", "settings_from_env"]
