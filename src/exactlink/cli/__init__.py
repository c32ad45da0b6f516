"""Typer commands: thin glue between the user and the services (≲30 lines each)."""
