"""Gap-free, unique invoice numbers per workspace and year.

Spanish and Portuguese invoicing rules require each series to be numbered
consecutively: no number skipped, none given twice, however many replicas of
the service issue invoices at the same time.

The numbers come from one counter row per (workspace, year) in
``invoice_number_counters``, taken with ``UPDATE ... SET last = last + 1
RETURNING last`` **inside the transaction that appends ``InvoiceIssued``**:

- the row lock that the update takes is held until that transaction ends, so
  issuers of one workspace and year are serialised (on PostgreSQL by the row
  lock, on SQLite by the database's single writer); other workspaces and years
  do not wait for each other;
- if the transaction rolls back (a refused issue, a concurrent writer, a crash)
  the increment rolls back with it: the number is given back, and the next
  issuer gets it;
- the first number of a year inserts the row. Two issuers racing to insert it
  are settled by the primary key: ``INSERT ... ON CONFLICT DO UPDATE`` makes
  the loser increment the winner's row once it committed.

The unique index on ``invoices (workspace, number)`` is a last guard: a
duplicate would fail the transaction instead of being stored.
"""
from sqlalchemy import and_, update
from sqlalchemy.dialects import postgresql, sqlite

from services.common.errors import Conflict

from .db import invoice_number_counters_table as counters
from .domain import format_invoice_number

MAX_SEQUENCE = 999999  # six digits: "2026-000001" .. "2026-999999"


def next_number(conn, workspace, year):
    """Take the next sequence of ``workspace``'s ``year`` (1, 2, ...) in ``conn``'s transaction.

    Gap-free and unique as long as the caller commits the number's use in the
    same transaction (a rollback gives the number back).
    """
    taken = conn.execute(
        update(counters)
        .where(and_(counters.c.workspace == workspace, counters.c.year == year))
        .values(last=counters.c.last + 1)
        .returning(counters.c.last)
    ).scalar()
    if taken is not None:
        return taken
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(counters).values(workspace=workspace, year=year, last=1)
    statement = statement.on_conflict_do_update(
        index_elements=[counters.c.workspace, counters.c.year],
        set_={"last": counters.c.last + 1},
    ).returning(counters.c.last)
    return conn.execute(statement).scalar_one()


def allocate_invoice_number(conn, workspace, year):
    """The next invoice number of ``workspace`` for ``year``, e.g. ``"2026-000124"``."""
    sequence = next_number(conn, workspace, year)
    if sequence > MAX_SEQUENCE:
        raise Conflict(f"the {MAX_SEQUENCE} invoice numbers of {year} are all used")
    return format_invoice_number(year, sequence)


def last_numbers(conn, workspace):
    """{year: last sequence handed out} of a workspace (for checks and reports)."""
    rows = conn.execute(
        counters.select().where(counters.c.workspace == workspace)).all()
    return {row.year: row.last for row in rows}
