"""The local SQLite mirror (sqlite-utils): CRM relations, Exact accounts, links, returns, runs.

Never imports httpx or the API layer. Open the database with :func:`exactlink.store.db.open_db`;
group multi-table writes in :func:`exactlink.store.db.transaction`.
"""
