"""Database access shared by the services: engines, transactions, the nameko provider.

SQLite (the default) and PostgreSQL behave alike from the caller's side:
- ``database.write()`` is one transaction that takes the write lock at once
  (``BEGIN IMMEDIATE`` on SQLite, so two writers never deadlock on upgrade);
- ``database.read()`` is a plain read transaction;
- callbacks registered with ``on_commit`` run after every committed write
  (the outbox relay uses it to publish without waiting for its next poll).
"""
import logging
import threading
from contextlib import contextmanager

from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, event

from .config import database_url

log = logging.getLogger(__name__)


def _configure_sqlite(engine):
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's begin() decide how a transaction starts (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        if connection.get_execution_options().get("clientfolio_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def driver_url(url):
    """Pin PostgreSQL to psycopg2, the driver eventlet greens (psycopg 3 would
    block every green thread of the process while it waits on the server)."""
    if hasattr(url, "render_as_string"):  # a sqlalchemy URL object
        url = url.render_as_string(hide_password=False)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def make_engine(url, **kwargs):
    """An engine tuned for the dialect (WAL and immediate write locks on SQLite)."""
    url = driver_url(url)
    if url.startswith("sqlite"):
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # Small pools: PostgreSQL's default is 100 connections for every replica of
    # every service together; a worker holds a connection only for one transaction.
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    # No pre-ping round trip per checkout: a connection found dead raises once
    # and SQLAlchemy then invalidates the whole pool (optimistic disconnects).
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, **kwargs)


class Database:
    """One service's database: an engine plus transaction helpers."""

    def __init__(self, url, **engine_kwargs):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.is_postgres = self.engine.dialect.name == "postgresql"
        # SQLite allows one writer; serialise writers of this process here so
        # that a green thread never sits in sqlite's busy loop (which would
        # block the eventlet hub) waiting for another green thread.
        self._write_lock = threading.RLock() if self.is_sqlite else None
        self._commit_listeners = []

    def __repr__(self):
        return f"<Database {self.engine.url!r}>"

    @contextmanager
    def write(self):
        """One atomic write transaction; commits on success, rolls back on error."""
        if self._write_lock is not None:
            self._write_lock.acquire()
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(clientfolio_write=True)
                with conn.begin():
                    yield conn
        finally:
            if self._write_lock is not None:
                self._write_lock.release()
        self._notify_commit()

    @contextmanager
    def read(self):
        """A read-only transaction (a consistent snapshot on PostgreSQL)."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def query(self):
        """A connection for a single read statement: on PostgreSQL in autocommit
        mode (no BEGIN/COMMIT round trips); one statement is its own snapshot."""
        if not self.is_postgres:
            with self.read() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def on_commit(self, callback):
        """Call ``callback()`` after every committed write of this process."""
        self._commit_listeners.append(callback)

    def remove_commit_listener(self, callback):
        if callback in self._commit_listeners:
            self._commit_listeners.remove(callback)

    def _notify_commit(self):
        for callback in list(self._commit_listeners):
            try:
                callback()
            except Exception:  # a listener must never fail a committed write
                log.exception("commit listener failed")

    def dispose(self):
        self.engine.dispose()


_databases = {}
_databases_lock = threading.Lock()


def get_database(url):
    """The process-wide ``Database`` for a URL (shared by providers and the relay)."""
    with _databases_lock:
        database = _databases.get(url)
        if database is None:
            database = _databases[url] = Database(url)
        return database


def forget_database(url):
    with _databases_lock:
        database = _databases.pop(url, None)
    if database is not None:
        database.dispose()


class DatabaseProvider(DependencyProvider):
    """Injects the service's ``Database``; applies its migrations on start."""

    def __init__(self, service, migrate=None):
        self.service = service
        self.migrate = migrate  # callable(url) applying the service's migrations
        self.database = None

    def setup(self):
        url = database_url(self.container.config, self.service)
        if self.migrate is not None:
            self.migrate(url)
        self.database = get_database(url)

    def get_dependency(self, worker_ctx):
        return self.database
