"""The engine and the runs built on it: the page engine, scheduled and full passes, adoption of earlier creates,
lookups, deletions, reconciliation, match-coupling, the circuit breaker. Uses rules/ and the clients; never
imports actions/."""
