"""Database access shared by the services: engines, transactions, the nameko provider.

SQLite (the default) and PostgreSQL behave alike from the caller's side:
- ``database.write()`` is one transaction that takes the write lock at once
  (``BEGIN IMMEDIATE`` on SQLite, so two writers never deadlock on upgrade);
- ``database.read()`` is a plain read transaction;
- callbacks registered with ``on_commit`` run after every committed write
  (the outbox relay uses it to publish without waiting for its next poll).
"""
import functools
import logging
import threading
from contextlib import contextmanager

from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, event, insert
from sqlalchemy.exc import IntegrityError

from .config import database_pool, database_url

log = logging.getLogger(__name__)

def bulk_insert(conn, table, columns, rows):
    """Insert ``rows`` (tuples in ``columns`` order) with the driver's fastest multi-row
    form: ``execute_values`` on PostgreSQL, ``executemany`` on SQLite.

    Bulk writes (event appends, imports, the read model) are hot paths, and
    SQLAlchemy's per-parameter processing costs more than the database work there.
    Values must already be what the driver takes (str, int, float, bool, None). A
    duplicate key raises SQLAlchemy's ``IntegrityError``, as ``conn.execute`` would.
    """
    if conn.dialect.name not in ("postgresql", "sqlite"):  # any other SQLAlchemy dialect
        if rows:
            conn.execute(insert(table), [dict(zip(columns, row)) for row in rows])
        return
    _insert_values(conn, table, columns, rows, None)


def bulk_upsert(conn, table, columns, rows, key=("id",)):
    """Insert ``rows`` (tuples in ``columns`` order), or update the row with the same
    ``key`` columns, in one multi-row statement per 1,000 rows.

    SQLAlchemy runs ``INSERT .. ON CONFLICT`` with many parameter sets as one
    statement (and one round trip) per row on psycopg2.
    """
    if conn.dialect.name not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no upsert for {conn.dialect.name}")
    _insert_values(conn, table, columns, rows, tuple(key))


def _insert_values(conn, table, columns, rows, key):
    """``key``: None for a plain insert, else the upsert's conflict columns."""
    if not rows:
        return
    statement = _insert_statement(conn.dialect, table.name, tuple(columns), key)
    if conn.dialect.name == "postgresql":
        execute_values(conn, statement, rows)
    else:
        conn.exec_driver_sql(statement, list(rows))


@functools.lru_cache(maxsize=1024)
def _insert_statement(dialect, table_name, columns, key):
    # Cached: a projector writes the same few tables batch after batch.
    quote = dialect.identifier_preparer.quote
    head = f"INSERT INTO {quote(table_name)} ({', '.join(quote(name) for name in columns)})"
    values = " VALUES %s" if dialect.name == "postgresql" else \
        f" VALUES ({', '.join('?' * len(columns))})"
    if key is None:
        return head + values
    changes = ", ".join(f"{quote(name)} = excluded.{quote(name)}"
                        for name in columns if name not in key)
    return (head + values + f" ON CONFLICT ({', '.join(quote(name) for name in key)}) "
            + (f"DO UPDATE SET {changes}" if changes else "DO NOTHING"))


def upsert_text(conn, table, columns, rows, key=("id",)):
    """``bulk_upsert``'s statement with its values inlined (PostgreSQL), for a
    caller that sends it together with other statements in one round trip."""
    statement = _insert_statement(conn.dialect, table.name, tuple(columns), tuple(key))
    template = f"({', '.join(['%s'] * len(columns))})"
    with conn.connection.driver_connection.cursor() as cursor:
        values = b", ".join(cursor.mogrify(template, row) for row in rows).decode()
    head, _, tail = statement.partition("VALUES %s")
    return f"{head}VALUES {values}{tail}"


def execute_values(conn, statement, rows, page_size=1000, fetch=False):
    """psycopg2's ``execute_values`` (``statement`` has one ``VALUES %s``) on the
    connection's transaction; a duplicate key raises SQLAlchemy's ``IntegrityError``.
    With ``fetch``, returns the rows the statement returned."""
    import psycopg2
    from psycopg2.extras import execute_values as run

    with conn.connection.driver_connection.cursor() as cursor:
        try:
            return run(cursor, statement, rows, page_size=page_size, fetch=fetch)
        except psycopg2.IntegrityError as exc:
            raise IntegrityError(statement, None, exc) from exc


def driver_rows(conn, statement, parameters=()):
    """All rows of ``statement`` (psycopg2 ``%s`` placeholders) run by the driver
    on the connection's transaction (PostgreSQL only). For a hot path's fixed
    statement: building and compiling a SQLAlchemy statement per batch cost more
    CPU than the round trip itself."""
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        return cursor.fetchall()


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
    # As many kept connections as a process has workers (CLIENTFOLIO_MAX_WORKERS,
    # 20): with fewer, a busy process opens and closes an overflow connection per
    # request (a new PostgreSQL backend each time). They are opened on demand only.
    for name, size in database_pool().items():
        kwargs.setdefault(name, size)
    # No pre-ping round trip per checkout: a connection found dead raises once
    # and SQLAlchemy then invalidates the whole pool (optimistic disconnects).
    kwargs.setdefault("pool_recycle", 1800)
    # The connection used last is handed out first: under a light load a few warm
    # backends serve everything instead of a round over all twenty (after a burst of
    # reads, quick propagation p50 7.0-9.4 ms against 8.2-12.4 ms; within the
    # machine's noise, kept because the idle ones can then time out).
    kwargs.setdefault("pool_use_lifo", True)
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
        self.notify_commit()

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
        # The driver's autocommit flag is toggled directly: SQLAlchemy's
        # isolation_level option resets the level at checkin with a
        # ``SET default_transaction_isolation`` round trip on every read.
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            driver.autocommit = True
            try:
                yield conn
            finally:
                if not conn.invalidated:  # a discarded connection is closed already
                    driver.autocommit = False

    def dedicated_connection(self):
        """A driver connection of its own (outside the pool), in autocommit mode,
        for a session held for long, such as a leadership's advisory lock."""
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        conn = self.engine.dialect.loaded_dbapi.connect(*cargs, **cparams)
        conn.autocommit = True
        return conn

    def on_commit(self, callback):
        """Call ``callback()`` after every committed write of this process."""
        self._commit_listeners.append(callback)

    def remove_commit_listener(self, callback):
        if callback in self._commit_listeners:
            self._commit_listeners.remove(callback)

    def notify_commit(self):
        """Run the ``on_commit`` callbacks (``write()`` does after each commit; a
        transaction committed by other means calls it itself)."""
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
