"""Event handlers that keep the overview read model.

``handlers_for(tables)`` gives {source: {event_type: fn(conn, event)}} for one
generation of tables. Each handler runs inside the inbox's transaction, so its
writes and the event's "applied" mark commit together (exactly-once effect).
Handlers upsert and never assume an order between sources: a project's row may
arrive after its hours, an invoice before its client.
"""
from decimal import Decimal

from sqlalchemy import insert, select, update

CLIENT_FIELDS = ("name", "kind", "tax_id", "email", "phone", "country", "category")
PROJECT_FIELDS = ("name", "code", "status", "created_at")


def _upsert(conn, table, key, values):
    """Update the row with id ``key`` (only ``values``), or insert it."""
    updated = conn.execute(update(table).where(table.c.id == key).values(**values)).rowcount
    if not updated:
        conn.execute(insert(table).values(id=key, **values))


def _add(a, b):
    return str(Decimal(a or "0") + Decimal(b or "0"))


class OverviewProjection:
    def __init__(self, tables):
        self.t = tables

    # -- contacts ------------------------------------------------------------------

    def client_registered(self, conn, event):
        data = event.data
        row = {field: data.get(field) for field in CLIENT_FIELDS}
        row["kind"] = row["kind"] or "company"
        _upsert(conn, self.t.clients, data["client_id"], dict(
            workspace=event.workspace, version=event.stream_version, archived=False,
            merged_into=None, **row))

    def client_updated(self, conn, event):
        changes = {field: value for field, value in (event.data.get("changes") or {}).items()
                   if field in CLIENT_FIELDS}
        conn.execute(update(self.t.clients).where(self.t.clients.c.id == event.data["client_id"])
                     .values(version=event.stream_version, **changes))

    def client_archived(self, conn, event):
        conn.execute(update(self.t.clients).where(self.t.clients.c.id == event.data["client_id"])
                     .values(version=event.stream_version, archived=True,
                             merged_into=event.data.get("merged_into")))

    def client_restored(self, conn, event):
        conn.execute(update(self.t.clients).where(self.t.clients.c.id == event.data["client_id"])
                     .values(version=event.stream_version, archived=False, merged_into=None))

    # -- projects ------------------------------------------------------------------

    def project_created(self, conn, event):
        data = event.data
        values = {field: data.get(field) for field in PROJECT_FIELDS}
        values["status"] = values["status"] or "active"
        values["client_id"] = data.get("client_id")
        values["workspace"] = event.workspace
        exists = conn.execute(select(self.t.projects.c.hours)
                              .where(self.t.projects.c.id == data["project_id"])).first()
        if exists is None:
            values["hours"] = "0"
        _upsert(conn, self.t.projects, data["project_id"], values)

    def project_updated(self, conn, event):
        changes = {field: value for field, value in (event.data.get("changes") or {}).items()
                   if field in PROJECT_FIELDS}
        if changes:
            conn.execute(update(self.t.projects)
                         .where(self.t.projects.c.id == event.data["project_id"])
                         .values(**changes))

    def _placeholder_project(self, conn, event, project_id):
        """A row for a project whose ProjectCreated is not applied (it always is
        first within the projects source; this only guards handler order)."""
        if conn.execute(select(self.t.projects.c.id)
                        .where(self.t.projects.c.id == project_id)).first() is None:
            conn.execute(insert(self.t.projects).values(
                id=project_id, workspace=event.workspace, name="", status="active", hours="0"))

    def client_assigned(self, conn, event):
        self._placeholder_project(conn, event, event.data["project_id"])
        conn.execute(update(self.t.projects)
                     .where(self.t.projects.c.id == event.data["project_id"])
                     .values(client_id=event.data["client_id"]))

    def client_unassigned(self, conn, event):
        conn.execute(update(self.t.projects)
                     .where(self.t.projects.c.id == event.data["project_id"])
                     .values(client_id=None))

    def time_logged(self, conn, event):
        project_id = event.data["project_id"]
        self._placeholder_project(conn, event, project_id)
        hours = conn.execute(select(self.t.projects.c.hours)
                             .where(self.t.projects.c.id == project_id)).scalar_one()
        conn.execute(update(self.t.projects).where(self.t.projects.c.id == project_id)
                     .values(hours=_add(hours, str(event.data["hours"]))))

    def task_added(self, conn, event):
        data = event.data
        _upsert(conn, self.t.tasks, data["task_id"], dict(
            workspace=event.workspace, project_id=data["project_id"], title=data.get("title"),
            due_date=data.get("due_date"), status=data.get("status") or "open"))

    def task_updated(self, conn, event):
        data = event.data
        values = {"workspace": event.workspace, "project_id": data["project_id"]}
        for field in ("title", "due_date", "status"):
            if field in data:
                values[field] = data[field]
        _upsert(conn, self.t.tasks, data["task_id"], values)

    # -- billing -------------------------------------------------------------------

    def _invoice(self, conn, event, **values):
        data = event.data
        base = {"workspace": event.workspace}
        for field in ("client_id", "project_id", "currency", "due_date", "issue_date"):
            if field in data:
                base[field] = data[field]
        base.update(values)
        exists = conn.execute(select(self.t.invoices.c.id)
                              .where(self.t.invoices.c.id == data["invoice_id"])).first()
        if exists is None:
            base.setdefault("status", "draft")
            base.setdefault("total", data.get("total") or "0")
            base.setdefault("paid", "0")
            base.setdefault("outstanding", base["total"])
            base.setdefault("currency", data.get("currency") or "XXX")
        _upsert(conn, self.t.invoices, data["invoice_id"], base)

    def invoice_drafted(self, conn, event):
        total = event.data.get("total") or "0"
        self._invoice(conn, event, status="draft", total=total, paid="0", outstanding=total)

    def invoice_draft_updated(self, conn, event):
        total = event.data.get("total") or "0"
        self._invoice(conn, event, total=total, outstanding=total)

    def invoice_issued(self, conn, event):
        data = event.data
        self._invoice(conn, event, status="authorized", number=data.get("number"),
                      total=data["total"], paid=data.get("paid") or "0",
                      outstanding=data.get("outstanding") or data["total"])

    def invoice_payment_recorded(self, conn, event):
        data = event.data
        self._invoice(conn, event, paid=data["paid"], outstanding=data["outstanding"])

    def invoice_paid(self, conn, event):
        data = event.data
        self._invoice(conn, event, status="paid", paid=data.get("paid") or data.get("total"),
                      outstanding="0")

    def invoice_voided(self, conn, event):
        self._invoice(conn, event, status="void")

    def invoice_client_changed(self, conn, event):
        self._invoice(conn, event)

    def _document(self, conn, table, key_field, event, **values):
        data = event.data
        base = {"workspace": event.workspace}
        for field in ("client_id", "project_id", "currency", "total", "date", "valid_until"):
            if field in data and field in table.c:
                base[field] = data[field]
        base.update(values)
        if conn.execute(select(table.c.id).where(table.c.id == data[key_field])).first() is None:
            base.setdefault("currency", "XXX")
            base.setdefault("total", "0")
            base.setdefault("status", "placed" if "purchase" in table.name else "draft")
        _upsert(conn, table, data[key_field], base)

    def purchase_order_placed(self, conn, event):
        self._document(conn, self.t.purchase_orders, "purchase_order_id", event, status="placed")

    def purchase_order_finalized(self, conn, event):
        self._document(conn, self.t.purchase_orders, "purchase_order_id", event,
                       status="finalized")

    def purchase_order_client_changed(self, conn, event):
        self._document(conn, self.t.purchase_orders, "purchase_order_id", event)

    def quote_created(self, conn, event):
        self._document(conn, self.t.quotes, "quote_id", event,
                       status=event.data.get("status") or "draft")

    def quote_status_changed(self, conn, event):
        self._document(conn, self.t.quotes, "quote_id", event, status=event.data["status"])

    def quote_client_changed(self, conn, event):
        self._document(conn, self.t.quotes, "quote_id", event)

    def handlers(self):
        return {
            "contacts": {
                "ClientRegistered": self.client_registered,
                "ClientUpdated": self.client_updated,
                "ClientArchived": self.client_archived,
                "ClientRestored": self.client_restored,
            },
            "projects": {
                "ProjectCreated": self.project_created,
                "ProjectUpdated": self.project_updated,
                "ClientAssigned": self.client_assigned,
                "ClientUnassigned": self.client_unassigned,
                "TimeLogged": self.time_logged,
                "TaskAdded": self.task_added,
                "TaskUpdated": self.task_updated,
            },
            "billing": {
                "InvoiceDrafted": self.invoice_drafted,
                "InvoiceDraftUpdated": self.invoice_draft_updated,
                "InvoiceIssued": self.invoice_issued,
                "InvoicePaymentRecorded": self.invoice_payment_recorded,
                "InvoicePaid": self.invoice_paid,
                "InvoiceVoided": self.invoice_voided,
                "InvoiceClientChanged": self.invoice_client_changed,
                "PurchaseOrderPlaced": self.purchase_order_placed,
                "PurchaseOrderFinalized": self.purchase_order_finalized,
                "PurchaseOrderClientChanged": self.purchase_order_client_changed,
                "QuoteCreated": self.quote_created,
                "QuoteStatusChanged": self.quote_status_changed,
                "QuoteClientChanged": self.quote_client_changed,
            },
        }


def handlers_for(tables):
    return OverviewProjection(tables).handlers()


SOURCES = ("contacts", "projects", "billing")
# The sources the gateway consumes, for EventConsumerProvider (handlers come per generation).
HANDLERS = {source: {} for source in SOURCES}
