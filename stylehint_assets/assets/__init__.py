"""The asset graph: events -> daily partials -> window stats and profiles -> hints -> served profiles;
and events -> daily impact partials -> learning impact."""
from .events import autofill_events, daily_event_partials, daily_field_map_counts, daily_impact_partials
from .hints import served_form_profiles, style_hints
from .impact import learning_impact
from .profiles import form_profiles
from .style_stats import family_style_stats, form_style_stats, segment_style_stats

ASSETS = [
    autofill_events, daily_event_partials, daily_field_map_counts,
    form_style_stats, segment_style_stats, family_style_stats,
    form_profiles, style_hints, served_form_profiles,
    daily_impact_partials, learning_impact,
]
