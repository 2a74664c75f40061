"""Prometheus exporter over the durable counters of the learning store (SPEC 7)."""
