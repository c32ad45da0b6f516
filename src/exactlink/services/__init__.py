"""Use cases that combine the API layer, the store and the domain rules (called by the commands)."""
