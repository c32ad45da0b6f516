"""OAuth login (authorization code + PKCE), token storage (OS keyring or a 0600 file) and refresh."""
