"""The database the in-process tests run on: SQLite by default (pytest-django's own set-up), or a
private PostgreSQL started for the run with `--test-database=postgres` (or
WEATHERSTREAMS_TEST_DATABASE=postgres), stopped at its end; pytest-django creates the test
database in it."""

from __future__ import annotations

import os

import pytest

from tests.support.postgres_server import PostgresServer

CHOICES = ("sqlite", "postgres")
_server: PostgresServer | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--test-database",
        choices=CHOICES,
        default=os.environ.get("WEATHERSTREAMS_TEST_DATABASE") or "sqlite",
        help="the database Django's tables live in during the run (default: sqlite, or $WEATHERSTREAMS_TEST_DATABASE)",
    )


def selected_database(config: pytest.Config) -> str:
    """The database this run was asked for: "sqlite" or "postgres"."""
    return config.getoption("--test-database")


def pytest_configure(config: pytest.Config) -> None:
    """Start PostgreSQL when it is selected and point Django's default database at it."""
    global _server
    if selected_database(config) != "postgres":
        return
    from django.conf import settings
    from django.db import connections

    _server = PostgresServer().start()
    # Importing the models made Django build its SQLite connection object (unconnected) from
    # settings.DATABASES, a dict it keeps: replace the entry in that dict, give it Django's
    # defaults, and drop the object, so the next use builds PostgreSQL's.
    connections["default"].close()
    del connections["default"]
    settings.DATABASES["default"] = _server.settings
    connections.configure_settings(settings.DATABASES)
    if connections["default"].vendor != "postgresql":
        raise pytest.UsageError("The test database could not be switched to PostgreSQL.")


# What lets a test reach Django's database: pytest-django refuses every query of a test that
# asks for none of these (its `django_db` marker, or a fixture that brings the database along).
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def uses_database(item: pytest.Item) -> bool:
    """Whether the test can open Django's database (pytest-django blocks every other test's queries)."""
    return item.get_closest_marker("django_db") is not None or bool(
        DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, run only the tests that can reach Django's database: the others cannot
    tell one database from another (the SQLite lane runs them)."""
    if selected_database(config) != "postgres":
        return
    kept = [item for item in items if uses_database(item)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if not uses_database(item)])
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    if _server is not None:
        return (
            f"database: {_server.version} on 127.0.0.1:{_server.port} ({_server.directory}); "
            "only the tests that can reach Django's database run"
        )
    return "database: SQLite"


def pytest_unconfigure(config: pytest.Config) -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
