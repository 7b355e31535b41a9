"""The database the in-process tests run on: SQLite by default (pytest-django's own set-up)."""
