"""The append-only event log (SQLite) and its verifier."""
