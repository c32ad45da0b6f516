"""Benchmarks for exactlink's speed, quality and API-economy targets (run as ``uv run python -m bench.<name>``)."""
