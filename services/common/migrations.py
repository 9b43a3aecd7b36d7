"""Alembic migrations per service, applied on start (and by ``clientfolio migrate``).

Each service keeps its revisions in ``services/<name>/migrations`` (gateway:
``gateway/migrations``). ``upgrade`` is safe to call from several replicas at
once: on PostgreSQL a transaction-scoped advisory lock serialises it, on
SQLite the immediate write lock does.
"""
import hashlib
import threading
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import text

from .db import get_database

_done = set()
_lock = threading.Lock()


def alembic_config(script_location):
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config


def upgrade(url, script_location, revision="head"):
    """Bring the database at ``url`` to ``revision`` (once per process and URL)."""
    key = (url, str(script_location), revision)
    with _lock:
        if key in _done:
            return
        database = get_database(url)
        config = alembic_config(script_location)
        with database.engine.connect() as conn:
            conn = conn.execution_options(clientfolio_write=True)
            with conn.begin():
                if database.is_postgres:
                    lock_key = int.from_bytes(
                        hashlib.sha256(f"migrate:{script_location}".encode()).digest()[:8],
                        "big", signed=True)
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
        _done.add(key)


def migrator(package_file):
    """A ``migrate(url)`` callable for the service whose module is ``package_file``."""
    location = Path(package_file).resolve().parent / "migrations"

    def migrate(url):
        upgrade(url, location)

    return migrate


def run_alembic_env():
    """Body of every service's ``migrations/env.py``: run on the given connection."""
    connection = context.config.attributes.get("connection")
    if connection is None:  # plain `alembic` command line: offline SQL script
        context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
