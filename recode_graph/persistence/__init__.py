"""Where threads live: checkpointers (SQLite, Postgres), the CLI's storage, and time travel."""
