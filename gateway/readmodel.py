"""The per-client overview read model: its tables, in generations.

The live model is one *generation* of tables (``rm<g>_…``), with its own inbox
checkpoints. ``clientfolio overview rebuild`` builds generation g+1 from
position 0 of every source while readers keep using g, then swaps the
``read_model_state`` pointer in one transaction: readers and the projector
move to the new tables at their next request or batch, nobody waits. Readers go
through ``ReadModel.read``: one that still held g when its tables were dropped is
run again on g+1.
"""
import threading
import time

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError

from services.common.envelope import format_time, utc_now
from services.common.inbox import Inbox, InboxTables

from .projections import HANDLERS

STATE_CACHE_SECONDS = 0.5
ENSURE_LOCK_KEY = 0x636C69656E74  # pg_advisory_xact_lock key of the first generation's creation

state_metadata = MetaData()
read_model_state_table = Table(
    "read_model_state",
    state_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("active", Integer, nullable=False),
    Column("building", Integer),
    Column("swapped_at", String(32)),
)


class OverviewTables:
    """One generation's tables."""

    def __init__(self, generation):
        self.generation = generation
        prefix = f"rm{generation}_"
        self.metadata = MetaData()
        m = self.metadata
        self.clients = Table(
            f"{prefix}clients", m,
            Column("id", String(36), primary_key=True),
            Column("workspace", String(100), nullable=False),
            Column("version", Integer, nullable=False),
            Column("name", String(200), nullable=False),
            Column("kind", String(20), nullable=False),
            Column("tax_id", String(40)),
            Column("email", String(254)),
            Column("phone", String(32)),
            Column("country", String(2)),
            Column("category", String(100)),
            Column("archived", Boolean, nullable=False),
            Column("merged_into", String(36)),
        )
        self.projects = Table(
            f"{prefix}projects", m,
            Column("id", String(36), primary_key=True),
            Column("workspace", String(100), nullable=False),
            Column("client_id", String(36), index=True),
            Column("name", String(200), nullable=False),
            Column("code", String(50)),
            Column("status", String(20), nullable=False),
            Column("hours", Text, nullable=False),  # a decimal, summed exactly
            Column("created_at", String(32)),
        )
        self.tasks = Table(
            f"{prefix}tasks", m,
            Column("id", String(36), primary_key=True),
            Column("workspace", String(100), nullable=False),
            Column("project_id", String(36), nullable=False, index=True),
            Column("title", String(500)),
            Column("due_date", String(10)),
            Column("status", String(10), nullable=False),
        )
        self.invoices = Table(
            f"{prefix}invoices", m,
            Column("id", String(36), primary_key=True),
            Column("workspace", String(100), nullable=False),
            Column("client_id", String(36), index=True),
            Column("project_id", String(36)),
            Column("number", String(20)),
            Column("currency", String(3), nullable=False),
            Column("status", String(12), nullable=False),  # draft|authorized|paid|void
            Column("total", Text, nullable=False),
            Column("paid", Text, nullable=False),
            Column("outstanding", Text, nullable=False),
            Column("issue_date", String(10)),
            Column("due_date", String(10)),
        )
        self.purchase_orders = Table(
            f"{prefix}purchase_orders", m,
            Column("id", String(36), primary_key=True),
            Column("workspace", String(100), nullable=False),
            Column("client_id", String(36), index=True),
            Column("project_id", String(36)),
            Column("currency", String(3), nullable=False),
            Column("total", Text, nullable=False),
            Column("status", String(12), nullable=False),
            Column("date", String(10)),
        )
        self.quotes = Table(
            f"{prefix}quotes", m,
            Column("id", String(36), primary_key=True),
            Column("workspace", String(100), nullable=False),
            Column("client_id", String(36), index=True),
            Column("project_id", String(36)),
            Column("currency", String(3), nullable=False),
            Column("total", Text, nullable=False),
            Column("status", String(12), nullable=False),
            Column("valid_until", String(10)),
        )
        self.inbox = InboxTables(prefix, metadata=m)

    def create(self, bind):
        self.metadata.create_all(bind)

    def drop(self, bind):
        self.metadata.drop_all(bind)

    def exists(self, bind):
        return inspect(bind).has_table(self.clients.name)


class ReadModel:
    """The gateway database's read model: which generation is live, its tables and inbox."""

    def __init__(self, database, unit_of_work_for):
        """``unit_of_work_for(tables)`` -> the inbox's unit of work for a generation."""
        self.database = database
        self.unit_of_work_for = unit_of_work_for
        self._tables = {}
        self._inboxes = {}
        self._cached = (0.0, None)
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()

    def ensure(self):
        """Create generation 1 on a new database (idempotent, safe across replicas)."""
        with self.database.write() as conn:
            if self.database.is_postgres:
                # Replicas starting together on a new database take turns (two CREATE
                # TABLEs of the same name collide in PostgreSQL's catalog).
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": ENSURE_LOCK_KEY})
            row = conn.execute(select(read_model_state_table)).first()
            if row is None:
                self.tables(1).create(conn)
                conn.execute(insert(read_model_state_table).values(
                    id=1, active=1, building=None, swapped_at=format_time(utc_now())))
        self._cached = (0.0, None)

    def state(self):
        with self.database.read() as conn:
            return conn.execute(select(read_model_state_table)).first()

    def active_generation(self):
        checked_at, generation = self._cached
        if generation is not None and time.monotonic() - checked_at <= STATE_CACHE_SECONDS:
            return generation
        # One green thread re-reads the pointer; the others keep the generation
        # they know meanwhile (every request of a busy gateway used to re-read
        # it at once each time the cache expired, stalling them all).
        refreshing = self._refreshing.acquire(blocking=False)
        if not refreshing and generation is not None:
            return generation
        try:
            with self.database.query() as conn:
                row = conn.execute(select(read_model_state_table.c.active)).first()
            generation = row.active if row else 1
            self._cached = (time.monotonic(), generation)
        finally:
            if refreshing:
                self._refreshing.release()
        return generation

    def tables(self, generation=None):
        generation = generation or self.active_generation()
        with self._lock:
            if generation not in self._tables:
                self._tables[generation] = OverviewTables(generation)
            return self._tables[generation]

    def read(self, query, snapshot=False):
        """``query(conn, tables)`` on the live generation. A reader that picked a
        generation a rebuild has just swapped out and dropped is run once more on the
        new one, so a rebuild never fails a read."""
        for attempt in (1, 2):
            tables = self.tables()
            try:
                with (self.database.read() if snapshot else self.database.query()) as conn:
                    return query(conn, tables)
            except Exception as exc:  # SQLAlchemy's errors, or the driver's on hot paths
                if attempt == 2 or not _missing_table(exc):
                    raise
                self._cached = (0.0, None)  # read the pointer again

    def inbox(self, generation=None):
        """The inbox that applies events to ``generation`` (default: the live one)."""
        tables = self.tables(generation)
        with self._lock:
            inbox = self._inboxes.get(tables.generation)
            if inbox is None:
                # The read model is derived from the sources' logs: it need not wait
                # for the disk at each commit (see Inbox's ``durable``).
                inbox = self._inboxes[tables.generation] = Inbox(
                    self.database, "gateway", HANDLERS, tables.inbox,
                    unit_of_work=self.unit_of_work_for(tables), durable=False)
            return inbox

    # -- rebuild ---------------------------------------------------------------------

    def start_build(self):
        """Create an empty next generation and mark it as being built; returns it."""
        with self.database.write() as conn:
            row = conn.execute(select(read_model_state_table)).first()
            generation = max(row.active, row.building or 0) + 1
            tables = self.tables(generation)
            if tables.exists(conn):
                tables.drop(conn)
            tables.create(conn)
            conn.execute(update(read_model_state_table).values(building=generation))
        return generation

    def analyze(self, generation):
        """Refresh the planner's statistics of a freshly built generation (PostgreSQL)."""
        if not self.database.is_postgres:
            return
        tables = self.tables(generation)
        with self.database.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in tables.metadata.sorted_tables:
                conn.exec_driver_sql(f'ANALYZE "{table.name}"')

    def swap(self, generation):
        """Make ``generation`` the live one; returns the previous generation."""
        with self.database.write() as conn:
            row = conn.execute(select(read_model_state_table)).first()
            conn.execute(update(read_model_state_table).values(
                active=generation, building=None, swapped_at=format_time(utc_now())))
        self._cached = (0.0, None)
        return row.active

    def drop(self, generation):
        with self.database.write() as conn:
            self.tables(generation).drop(conn)


def _missing_table(exc):
    """Whether a database error says a table does not exist (PostgreSQL's undefined
    table, SQLite's "no such table")."""
    if "42P01" in (getattr(exc, "pgcode", None), getattr(getattr(exc, "orig", None),
                                                         "pgcode", None)):
        return True
    return isinstance(exc, OperationalError) and "no such table" in str(exc)


_read_models = {}
_read_models_lock = threading.Lock()


def read_model_for(database):
    """The process-wide ``ReadModel`` of a gateway database (created if needed)."""
    from .projections import unit_of_work_for

    with _read_models_lock:
        model = _read_models.get(database.url)
        if model is None or model.database is not database:
            model = _read_models[database.url] = ReadModel(database, unit_of_work_for)
            model.ensure()
        return model
