"""Benchmarks for exactlink's quality bars (run as ``uv run python -m bench.<name>``)."""
