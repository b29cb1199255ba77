"""Views folded from the event log: Prometheus metrics and progress. Read events, never write them."""
