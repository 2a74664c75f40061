"""Asset group names: the UI's sections, and what the jobs and the snapshot run select."""

EVENTS_GROUP = "events"
STATS_GROUP = "style_stats"
HINTS_GROUP = "hints"
IMPACT_GROUP = "impact"
