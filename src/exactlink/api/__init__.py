"""The Exact Online REST client (httpx). Knows nothing of SQLite or of where tokens are stored."""
