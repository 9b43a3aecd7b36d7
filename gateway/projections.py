"""Event handlers that keep the overview read model, applied a batch at a time.

``OverviewBatch`` is the unit of work the inbox runs for each batch of one
source: it loads every row the batch touches in one query per table, lets the
handlers change plain dictionaries, and writes the changed rows back with one
multi-row upsert per table, all inside the inbox's transaction (so the rows
and the events' "applied" marks commit together: exactly-once effect).

Handlers never assume an order between sources: a project's row may arrive
after its hours, an invoice before its client.
"""
import functools
from decimal import Decimal

import orjson
from sqlalchemy import select

from services.common.db import bulk_upsert, driver_rows, upsert_text

from . import erasure

CLIENT_FIELDS = ("name", "kind", "tax_id", "email", "phone", "country", "category")
# What an erased client's row holds instead of its fields (docs/privacy.md).
ERASED_KIND = "erased"
ERASED_CLIENT = {"name": "", "kind": ERASED_KIND}
PERSONAL_CLIENT_FIELDS = ("name", "tax_id", "email", "phone")
PROJECT_FIELDS = ("name", "code", "status", "created_at")
SOURCES = ("contacts", "projects", "billing")
# Sources whose sealed personal fields the read model keeps (opened by the source,
# services/common/personal.py): contacts' clients' names, emails, phones, tax ids.
REVEALED_SOURCES = ("contacts",)
# The sources the gateway consumes (handlers come per batch from OverviewBatch).
HANDLERS = {source: {} for source in SOURCES}
# Which event data keys name rows of which table, for the batch's preload.
KEYS = {"client_id": "clients", "project_id": "projects", "task_id": "tasks",
        "invoice_id": "invoices", "purchase_order_id": "purchase_orders", "quote_id": "quotes"}


def _add(a, b):
    return str(Decimal(a or "0") + Decimal(b or "0"))


@functools.lru_cache(maxsize=256)
def _select_by_ids(dialect, table_name, columns):
    quote = dialect.identifier_preparer.quote
    return f"SELECT {', '.join(map(quote, columns))} FROM {quote(table_name)} WHERE id = ANY(%s)"


class RowCache:
    """The rows of one table that a batch touches, keyed by id."""

    def __init__(self, conn, table):
        self.conn = conn
        self.table = table
        self.columns = [c.name for c in table.columns]
        self.rows = {}
        self.absent = set()  # looked up, not in the table: never queried twice
        self.dirty = set()

    def missing(self, ids):
        """Which of ``ids`` were never looked up."""
        return [i for i in set(ids) if i and i not in self.rows and i not in self.absent]

    def loaded(self, ids, rows):
        """Take the rows found for ``ids`` (dicts); the others are known to be absent."""
        for row in rows:
            self.rows[row["id"]] = row
        self.absent.update(i for i in ids if i not in self.rows)

    def load(self, ids):
        ids = self.missing(ids)
        if not ids:
            return
        if self.conn.dialect.name == "postgresql":
            statement = _select_by_ids(self.conn.dialect, self.table.name, tuple(self.columns))
            rows = [dict(zip(self.columns, row))
                    for row in driver_rows(self.conn, statement, (ids,))]
        else:
            rows = [row._asdict() for start in range(0, len(ids), 500)
                    for row in self.conn.execute(
                        select(self.table).where(self.table.c.id.in_(ids[start:start + 500])))]
        self.loaded(ids, rows)

    def get(self, key):
        if key not in self.rows and key not in self.absent:
            self.load([key])
        return self.rows.get(key)

    def put(self, key, row):
        row["id"] = key
        self.rows[key] = row
        self.absent.discard(key)
        self.dirty.add(key)

    def flush(self, inline=False):
        """Write the changed rows; with ``inline`` (PostgreSQL), return the
        statement's text instead, for the caller to send with its own."""
        if not self.dirty:
            return None
        columns = self.columns
        rows = [tuple(self.rows[k].get(c) for c in columns) for k in sorted(self.dirty)]
        self.dirty.clear()
        if inline:
            return upsert_text(self.conn, self.table, columns, rows)
        bulk_upsert(self.conn, self.table, columns, rows)
        return None


# Event type -> OverviewBatch method, per source (bound per batch only when used).
HANDLER_NAMES = {
    "contacts": {
        "ClientRegistered": "client_registered",
        "ClientUpdated": "client_updated",
        "ClientArchived": "client_archived",
        "ClientRestored": "client_restored",
        "ClientErased": "client_erased",
    },
    "projects": {
        "ProjectCreated": "project_created",
        "ProjectUpdated": "project_updated",
        "ClientAssigned": "client_assigned",
        "ClientUnassigned": "client_unassigned",
        "TimeLogged": "time_logged",
        "TaskAdded": "task_added",
        "TaskUpdated": "task_updated",
    },
    "billing": {
        "InvoiceDrafted": "invoice_drafted",
        "InvoiceDraftUpdated": "invoice_draft_updated",
        "InvoiceIssued": "invoice_issued",
        "InvoicePaymentRecorded": "invoice_payment_recorded",
        "InvoicePaid": "invoice_paid",
        "InvoiceVoided": "invoice_voided",
        "InvoiceClientChanged": "invoice_client_changed",
        "PurchaseOrderPlaced": "purchase_order_placed",
        "PurchaseOrderFinalized": "purchase_order_finalized",
        "PurchaseOrderClientChanged": "purchase_order_client_changed",
        "QuoteCreated": "quote_created",
        "QuoteStatusChanged": "quote_status_changed",
        "QuoteClientChanged": "quote_client_changed",
    },
}


class _BoundHandlers:
    """``{event type: handler}`` of one batch for one source, bound on lookup."""

    def __init__(self, batch, names):
        self.batch = batch
        self.names = names

    def get(self, event_type, default=None):
        name = self.names.get(event_type)
        return getattr(self.batch, name) if name else default


class OverviewBatch:
    def __init__(self, tables, conn, source, events):
        self.t = tables
        self.caches = {name: RowCache(conn, getattr(tables, name)) for name in set(KEYS.values())}
        wanted = {}
        for event in events:
            for key, table in KEYS.items():
                value = event.data.get(key)
                if isinstance(value, str):
                    wanted.setdefault(table, []).append(value)
        self.postgres = conn.dialect.name == "postgresql"
        if self.postgres and len(wanted) > 1:
            self._load_together(conn, wanted)
        else:
            for table, ids in wanted.items():
                self.caches[table].load(ids)
        self.handlers = self._handlers()

    def _load_together(self, conn, wanted):
        """Every table's rows in one statement (one round trip), as JSON objects."""
        parts, parameters, missing = [], [], {}
        quote = conn.dialect.identifier_preparer.quote
        for table, ids in sorted(wanted.items()):
            ids = missing[table] = self.caches[table].missing(ids)
            if ids:
                parts.append(f"SELECT %s, row_to_json(t)::text FROM "
                             f"{quote(getattr(self.t, table).name)} t WHERE t.id = ANY(%s)")
                parameters += [table, ids]
        found = {table: [] for table in missing}
        if parts:
            for table, row in driver_rows(conn, " UNION ALL ".join(parts), parameters):
                found[table].append(orjson.loads(row))
        for table, ids in missing.items():
            self.caches[table].loaded(ids, found[table])

    def flush(self, inline=False):
        """Write every changed row. With ``inline`` on PostgreSQL the statements'
        text is returned instead: the inbox sends it with its checkpoint write, one
        round trip for the batch's writes (see ``Inbox._handle``)."""
        texts = [cache.flush(inline=inline and self.postgres)
                 for _, cache in sorted(self.caches.items())]
        return ";\n".join(text for text in texts if text) or None

    # -- contacts ------------------------------------------------------------------

    def client_registered(self, conn, event):
        data = event.data
        row = {field: data.get(field) for field in CLIENT_FIELDS}
        row["kind"] = row["kind"] or "company"
        row["name"] = row["name"] or ""  # a client erased since: its name is gone
        self.caches["clients"].put(data["client_id"], dict(
            workspace=event.workspace, version=event.stream_version, archived=False,
            merged_into=None, **row))

    def _client_change(self, event, **values):
        clients = self.caches["clients"]
        row = clients.get(event.data["client_id"])
        if row is None:  # its ClientRegistered is parked: nothing to change yet
            raise LookupError(f"unknown client {event.data['client_id']}")
        row.update(version=event.stream_version, **values)
        clients.put(row["id"], row)

    def client_updated(self, conn, event):
        changes = {field: value for field, value in (event.data.get("changes") or {}).items()
                   if field in CLIENT_FIELDS}
        self._client_change(event, **changes)

    def client_archived(self, conn, event):
        self._client_change(event, archived=True, merged_into=event.data.get("merged_into"))

    def client_restored(self, conn, event):
        self._client_change(event, archived=False, merged_into=None)

    def client_erased(self, conn, event):
        """The person's fields are blanked; the row stays (marked by its kind) so that
        the workspace's figures keep its amounts and the client answers 410."""
        blank = {**{field: None for field in PERSONAL_CLIENT_FIELDS}, **ERASED_CLIENT}
        self._client_change(event, archived=True, merged_into=None, **blank)
        erasure.blank_dead_letters(conn, self.t.inbox.dead_letters, event.data["client_id"])
        erasure.client_erased(conn, event.workspace, event.data["client_id"])

    # -- projects ------------------------------------------------------------------

    def _project(self, event, project_id):
        return self.caches["projects"].get(project_id) or {
            "workspace": event.workspace, "client_id": None, "name": "", "code": None,
            "status": "active", "hours": "0", "created_at": None}

    def _put_project(self, project_id, row):
        self.caches["projects"].put(project_id, row)

    def project_created(self, conn, event):
        data = event.data
        row = self._project(event, data["project_id"])
        row.update({field: data.get(field) for field in PROJECT_FIELDS})
        row["status"] = row["status"] or "active"
        row["client_id"] = data.get("client_id")
        row["workspace"] = event.workspace
        self._put_project(data["project_id"], row)

    def project_updated(self, conn, event):
        changes = {field: value for field, value in (event.data.get("changes") or {}).items()
                   if field in PROJECT_FIELDS}
        row = self._project(event, event.data["project_id"])
        row.update(changes)
        self._put_project(event.data["project_id"], row)

    def client_assigned(self, conn, event):
        row = self._project(event, event.data["project_id"])
        row["client_id"] = event.data["client_id"]
        self._put_project(event.data["project_id"], row)

    def client_unassigned(self, conn, event):
        row = self._project(event, event.data["project_id"])
        row["client_id"] = None
        self._put_project(event.data["project_id"], row)

    def time_logged(self, conn, event):
        row = self._project(event, event.data["project_id"])
        row["hours"] = _add(row["hours"], str(event.data["hours"]))
        self._put_project(event.data["project_id"], row)

    def task_added(self, conn, event):
        data = event.data
        self.caches["tasks"].put(data["task_id"], dict(
            workspace=event.workspace, project_id=data["project_id"], title=data.get("title"),
            due_date=data.get("due_date"), status=data.get("status") or "open"))

    def task_updated(self, conn, event):
        data = event.data
        tasks = self.caches["tasks"]
        row = tasks.get(data["task_id"]) or {"title": None, "due_date": None, "status": "open"}
        row.update(workspace=event.workspace, project_id=data["project_id"])
        for field in ("title", "due_date", "status"):
            if field in data:
                row[field] = data[field]
        tasks.put(data["task_id"], row)

    # -- billing -------------------------------------------------------------------

    def _invoice(self, event, **values):
        data = event.data
        invoices = self.caches["invoices"]
        row = invoices.get(data["invoice_id"])
        if row is None:
            total = data.get("total") or "0"
            row = {"status": "draft", "total": total, "paid": "0", "outstanding": total,
                   "currency": data.get("currency") or "XXX", "number": None,
                   "client_id": None, "project_id": None, "issue_date": None,
                   "due_date": None}
        row["workspace"] = event.workspace
        for field in ("client_id", "project_id", "currency", "due_date", "issue_date"):
            if field in data:
                row[field] = data[field]
        row.update(values)
        invoices.put(data["invoice_id"], row)

    def invoice_drafted(self, conn, event):
        total = event.data.get("total") or "0"
        self._invoice(event, status="draft", total=total, paid="0", outstanding=total)

    def invoice_draft_updated(self, conn, event):
        total = event.data.get("total") or "0"
        self._invoice(event, total=total, outstanding=total)

    def invoice_issued(self, conn, event):
        data = event.data
        self._invoice(event, status="authorized", number=data.get("number"),
                      total=data["total"], paid=data.get("paid") or "0",
                      outstanding=data.get("outstanding") or data["total"])

    def invoice_payment_recorded(self, conn, event):
        self._invoice(event, paid=event.data["paid"], outstanding=event.data["outstanding"])

    def invoice_paid(self, conn, event):
        data = event.data
        self._invoice(event, status="paid", paid=data.get("paid") or data.get("total"),
                      outstanding="0")

    def invoice_voided(self, conn, event):
        self._invoice(event, status="void")

    def invoice_client_changed(self, conn, event):
        self._invoice(event)

    def _document(self, table, key_field, event, **values):
        data = event.data
        cache = self.caches[table]
        row = cache.get(data[key_field])
        if row is None:
            row = {"currency": "XXX", "total": "0", "client_id": None, "project_id": None,
                   "status": "placed" if table == "purchase_orders" else "draft"}
        row["workspace"] = event.workspace
        for field in ("client_id", "project_id", "currency", "total", "date", "valid_until"):
            if field in data and field in cache.columns:
                row[field] = data[field]
        row.update(values)
        cache.put(data[key_field], row)

    def purchase_order_placed(self, conn, event):
        self._document("purchase_orders", "purchase_order_id", event, status="placed")

    def purchase_order_finalized(self, conn, event):
        self._document("purchase_orders", "purchase_order_id", event, status="finalized")

    def purchase_order_client_changed(self, conn, event):
        self._document("purchase_orders", "purchase_order_id", event)

    def quote_created(self, conn, event):
        self._document("quotes", "quote_id", event, status=event.data.get("status") or "draft")

    def quote_status_changed(self, conn, event):
        self._document("quotes", "quote_id", event, status=event.data["status"])

    def quote_client_changed(self, conn, event):
        self._document("quotes", "quote_id", event)

    def _handlers(self):
        return {source: _BoundHandlers(self, names) for source, names in HANDLER_NAMES.items()}


def unit_of_work_for(tables):
    """The inbox's ``unit_of_work`` for one read-model generation."""
    return lambda conn, source, events: OverviewBatch(tables, conn, source, events)
