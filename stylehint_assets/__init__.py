"""stylehint: Companion learning events -> style hints and form profiles, as a Dagster asset graph."""
