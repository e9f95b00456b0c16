"""Prometheus series of this install: defined in `instruments`, served by `/metrics`."""
