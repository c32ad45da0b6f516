"""Domain rules (identifiers, matching, returns, schedules): no HTTP, no SQLite."""
