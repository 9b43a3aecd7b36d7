"""Read side of billing: the documents' query tables, written with their events.

``project`` runs in the transaction that appended the document's events, so
a read never sees a document ahead of or behind its event stream. Lists are
newest first and paged by ``seq`` (the position of the document's first
event) with an opaque cursor.

Invoice list filters (``status``) count exactly what the overview counts
(see ``domain.invoice_standing``): ``draft``, ``void``, ``paid`` (fully paid),
``authorized`` (issued and not void, paid or not), ``pending`` (authorized,
something still owed, ``due_date >= as_of``) and ``overdue`` (authorized,
something still owed, ``due_date < as_of``). ``as_of`` is a parameter of the
query only: the results move with it without any new event.
"""
import json

from sqlalchemy import and_, insert, select, tuple_, update

from services.common.errors import BadRequest
from services.common.paging import check_limit, decode_cursor, encode_cursor
from services.common.times import time_param

from . import domain, money
from .db import invoices_table, purchase_orders_table, quotes_table
from .domain import Invoice, PurchaseOrder, Quote


INVOICE_FILTERS = ("draft", "authorized", "paid", "pending", "overdue", "void")
PURCHASE_ORDER_FILTERS = domain.PURCHASE_ORDER_STATUSES
QUOTE_FILTERS = domain.QUOTE_STATUSES + ("open",)  # open = draft or sent (the overview's)


class Kind:
    """One document kind: its aggregate, query table and names."""

    def __init__(self, name, aggregate, table, filters):
        self.name = name            # "invoice": the RPC result key
        self.aggregate = aggregate
        self.table = table
        self.filters = filters
        self.noun = aggregate.noun

    def __repr__(self):
        return f"<Kind {self.name}>"


INVOICE = Kind("invoice", Invoice, invoices_table, INVOICE_FILTERS)
PURCHASE_ORDER = Kind("purchase_order", PurchaseOrder, purchase_orders_table,
                      PURCHASE_ORDER_FILTERS)
QUOTE = Kind("quote", Quote, quotes_table, QUOTE_FILTERS)
KINDS = {kind.name: kind for kind in (INVOICE, PURCHASE_ORDER, QUOTE)}


# -- writing ---------------------------------------------------------------------------


def project(conn, kind, document, envelopes, created):
    """Write the document's current state after ``envelopes`` were appended (same transaction)."""
    record = document.to_dict()
    row = {"version": document.version, "client_id": document.client_id,
           "project_id": document.project_id, "status": document.status,
           "updated_at": record.get("updated_at") or envelopes[-1].occurred_at,
           "record": json.dumps(record, ensure_ascii=False, separators=(",", ":"))}
    if kind is INVOICE:
        row.update(number=document.number, currency=document.currency,
                   issue_date=document.issue_date, due_date=document.due_date,
                   owing=document.outstanding is not None
                   and money.parse_decimal(document.outstanding) > 0)
    table = kind.table
    if created:
        conn.execute(insert(table).values(id=document.id, workspace=document.workspace,
                                          seq=envelopes[0].position, **row))
    else:
        conn.execute(update(table).where(table.c.id == document.id).values(**row))


# -- reading -----------------------------------------------------------------------------


def exists(conn, kind, workspace, document_id):
    """Whether the document is one of ``workspace``'s (another workspace's is not)."""
    table = kind.table
    return conn.execute(select(table.c.id).where(and_(
        table.c.id == str(document_id), table.c.workspace == workspace))).first() is not None


def get(conn, kind, workspace, document_id):
    """The stored record of one document of ``workspace``, or None."""
    table = kind.table
    row = conn.execute(select(table.c.record).where(and_(
        table.c.id == str(document_id), table.c.workspace == workspace))).first()
    return json.loads(row.record) if row else None


def document_ids_of_client(conn, kind, workspace, client_id):
    table = kind.table
    return list(conn.execute(select(table.c.id).where(and_(
        table.c.workspace == workspace, table.c.client_id == client_id))
        .order_by(table.c.seq)).scalars())


def invoice_resource(record, as_of):
    """An invoice record with its ``standing`` on ``as_of`` (what the overview counts it as)."""
    return {**record,
            "standing": domain.invoice_standing(record["status"], record["due_date"],
                                                record["outstanding"], as_of),
            "as_of": domain.date_text(as_of)}


def resource(kind, record, as_of=None):
    if kind is INVOICE and record is not None:
        return invoice_resource(record, as_of)
    return record


def _status_clause(kind, status, as_of):
    table = kind.table
    if kind is not INVOICE:
        if status == "open":
            return table.c.status.in_(domain.OPEN_QUOTE_STATUSES)
        return table.c.status == status
    if status == "authorized":
        return table.c.status.in_((domain.AUTHORIZED, domain.PAID))
    if status in (domain.PENDING, domain.OVERDUE):
        day = domain.date_text(as_of)  # YYYY-MM-DD compares as the date
        due = table.c.due_date >= day if status == domain.PENDING else table.c.due_date < day
        return and_(table.c.status == domain.AUTHORIZED, table.c.owing.is_(True), due)
    return table.c.status == status


SORTS = ("-created_at", "updated_at", "-updated_at")


def list_documents(conn, kind, workspace, *, client_id=None, project_id=None, status=None,
                   as_of=None, limit=None, cursor=None, updated_since=None, sort=None):
    """One page of a workspace's documents, newest first (or by ``sort``: ``[-]updated_at``)
    and only those changed at or after ``updated_since`` (RFC 3339) if given:
    ``{"items", "next_cursor"}``."""
    table = kind.table
    limit = check_limit(limit)
    sort = sort or "-created_at"
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}",
                         {"sort": [f"must be one of {', '.join(SORTS)}"]})
    since = time_param(updated_since, "updated_since")
    if sort != "-created_at":
        return _by_update(conn, kind, workspace, table, sort, since, client_id, project_id,
                          status, as_of, limit, cursor)
    query = select(table.c.seq, table.c.record).where(table.c.workspace == workspace)
    query = _filtered(query, kind, table, since, client_id, project_id, status, as_of)
    if cursor:
        (seq,) = decode_cursor(cursor, (int,))
        query = query.where(table.c.seq < seq)
    rows = conn.execute(query.order_by(table.c.seq.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    items = [resource(kind, json.loads(row.record), as_of) for row in page]
    next_cursor = encode_cursor([page[-1].seq]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


def _filtered(query, kind, table, since, client_id, project_id, status, as_of):
    """``query`` narrowed by a list's filters (400 for a status the kind does not have)."""
    if since is not None:
        query = query.where(table.c.updated_at >= since)
    if client_id:
        query = query.where(table.c.client_id == str(client_id))
    if project_id:
        query = query.where(table.c.project_id == str(project_id))
    if status:
        if status not in kind.filters:
            raise BadRequest(f"status must be one of {', '.join(kind.filters)}",
                             {"status": [f"one of {', '.join(kind.filters)}"]})
        query = query.where(_status_clause(kind, status, as_of))
    return query


def _by_update(conn, kind, workspace, table, sort, since, client_id, project_id, status, as_of,
               limit, cursor):
    """``list_documents`` ordered by the last change (then by creation)."""
    query = select(table.c.seq, table.c.updated_at, table.c.record).where(
        table.c.workspace == workspace)
    query = _filtered(query, kind, table, since, client_id, project_id, status, as_of)
    descending = sort.startswith("-")
    if cursor:
        updated_at, seq = decode_cursor(cursor, (str, int))
        keyset = tuple_(table.c.updated_at, table.c.seq)
        query = query.where(keyset < tuple_(updated_at, seq) if descending
                            else keyset > tuple_(updated_at, seq))
    order = ((table.c.updated_at.desc(), table.c.seq.desc()) if descending
             else (table.c.updated_at, table.c.seq))
    rows = conn.execute(query.order_by(*order).limit(limit + 1)).all()
    page = rows[:limit]
    items = [resource(kind, json.loads(row.record), as_of) for row in page]
    next_cursor = encode_cursor([page[-1].updated_at, page[-1].seq]) \
        if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}
