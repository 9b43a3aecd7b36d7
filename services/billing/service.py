"""The billing service: nameko entrypoints over invoices, purchase orders and quotes.

Every write is a command of the kernel's unit of work (``store.execute``): it loads
the document from its event stream, runs the aggregate's command, and in one
transaction appends the new events, updates the document's query row and records
its outcome (a command received twice takes effect once); it answers ``{"invoice" | "purchase_order" | "quote": ...,
"position": <position of the document's last event>}``. A write that raced
another writer of the same document is retried on fresh state; an
``expected_version`` that no longer holds is ``PreconditionFailed``.
The RPC interface is documented in ``docs/rpc-billing.md``.
"""
from datetime import datetime, timezone

from nameko.dependency_providers import Config
from services.common.rpc import rpc

from services.common.context import CommandContext
from services.common.envelope import format_time, utc_now
from services.common.errors import BadRequest, NotFound, PreconditionFailed
from services.common.extensions import (ConsistencyRpc, EventConsumerProvider,
                                        EventSourcedStore, EventSourceRpc, HealthChecks)
from services.common.migrations import migrator

from . import documents, queries, replica
from .domain import DRAFT, Invoice, PurchaseOrder, Quote, date_text, to_date
from .numbering import allocate_invoice_number
from .parties import InvoicePartiesRpc
from .queries import INVOICE, PURCHASE_ORDER, QUOTE
from .schemas import (InvoicePatchSchema, IssueInvoiceSchema, NewInvoiceSchema,
                      NewPurchaseOrderSchema, NewQuoteSchema, PaymentSchema,
                      VoidInvoiceSchema, load_or_raise)

migrate = migrator(__file__)

#: Seconds to wait for the replica to reach the positions a Consistency-Token names.
CONSISTENCY_WAIT = 5.0
#: Seconds to wait for a client or project this service has not heard of yet.
DEFAULT_REPLICA_WAIT = 2.0
LIST_FILTERS = ("client_id", "project_id", "status", "as_of", "limit", "cursor",
                "updated_since", "sort")


def now():
    return format_time(utc_now())


def today_utc():
    return datetime.now(timezone.utc).date()


def _as_of(value):
    if value is None or value == "":
        return today_utc()
    try:
        return to_date(value)
    except ValueError:
        raise BadRequest("as_of must be a date (YYYY-MM-DD)", {"as_of": ["not a date"]}) from None


def _version(value):
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest("the expected version must be an integer",
                         {"expected_version": ["an integer"]}) from None


class BillingService(InvoicePartiesRpc, EventSourceRpc, ConsistencyRpc, HealthChecks):
    name = "billing"

    config = Config()
    store = EventSourcedStore("billing", migrate, projector=documents.project_changes)
    # The events this service reacts to: contacts' clients (its replica) and merges,
    # projects' projects and their clients.
    handlers = {
        "contacts": {**replica.CLIENTS.handlers,
                     "ClientsMerged": replica.clients_merged,
                     "ClientsUnmerged": replica.clients_unmerged},
        "projects": {"ProjectCreated": replica.project_created,
                     "ClientAssigned": replica.client_assigned,
                     "ClientUnassigned": replica.client_unassigned},
    }
    consumer = EventConsumerProvider("billing", "billing", migrate, handlers,
                                     unit_of_work=replica.CLIENTS.unit_of_work(handlers))

    # -- invoices ---------------------------------------------------------------------

    @rpc
    def create_invoice(self, ctx, data, consistency=None):
        """Draft an invoice for a live client of the workspace (and one of its projects).

        ``consistency``: the caller's Consistency-Token, if any (see ``_await_parties``).
        """
        ctx = CommandContext.load(ctx)
        values = load_or_raise(NewInvoiceSchema, data)

        def build(invoice_id):
            invoice = Invoice(invoice_id)
            invoice.draft(ctx.workspace, values["client_id"], values["currency"],
                          values["lines"], project_id=values["project_id"],
                          issue_date=values["issue_date"], due_date=values["due_date"],
                          at=now())
            return invoice

        return self._create(ctx, INVOICE, values, build, consistency)

    @rpc
    def update_invoice(self, ctx, invoice_id, changes, expected_version=None,
                       consistency=None):
        """Edit a draft (``project_id``, ``currency``, ``issue_date``, ``due_date``, ``lines``)."""
        ctx = CommandContext.load(ctx)
        changes = load_or_raise(InvoicePatchSchema, changes)
        project_id = changes.get("project_id")
        if project_id:
            self._await_parties(ctx.workspace, None, project_id, consistency)

        def update(conn, invoice):
            if project_id and invoice.status == DRAFT:  # else the aggregate refuses (409)
                replica.check_parties(conn, ctx.workspace, invoice.client_id, project_id,
                                      check_client=False)
            invoice.update_draft(changes, at=now())

        return self._change(ctx, INVOICE, invoice_id, expected_version, update,
                            "update_invoice")

    @rpc
    def issue_invoice(self, ctx, invoice_id, data=None, expected_version=None):
        """Authorize a draft with the next gap-free number of its workspace and issue year.

        ``data``: optional ``issue_date`` (default: the draft's, else today UTC)
        and ``due_date`` (default: the draft's, else the issue date).
        """
        ctx = CommandContext.load(ctx)
        values = load_or_raise(IssueInvoiceSchema, data)

        def issue(conn, invoice):
            issue_date = values["issue_date"] or invoice.issue_date or date_text(today_utc())
            # In this transaction: a refused or failed issue gives the number back.
            number = allocate_invoice_number(conn, ctx.workspace, to_date(issue_date).year)
            invoice.issue(number, issue_date, values["due_date"], at=now())

        return self._change(ctx, INVOICE, invoice_id, expected_version, issue,
                            "issue_invoice")

    @rpc
    def record_payment(self, ctx, invoice_id, data, expected_version=None):
        """Record a payment ``{"amount", "date"}``; never more than what is still owed."""
        ctx = CommandContext.load(ctx)
        values = load_or_raise(PaymentSchema, data)
        return self._change(
            ctx, INVOICE, invoice_id, expected_version,
            lambda conn, invoice: invoice.record_payment(values["amount"], values["date"],
                                                         at=now()), "record_payment")

    @rpc
    def void_invoice(self, ctx, invoice_id, data=None, expected_version=None):
        """Void a draft or an unpaid authorized invoice (its number stays used)."""
        ctx = CommandContext.load(ctx)
        values = load_or_raise(VoidInvoiceSchema, data)
        return self._change(ctx, INVOICE, invoice_id, expected_version,
                            lambda conn, invoice: invoice.void(values["reason"], at=now()),
                            "void_invoice")

    @rpc
    def get_invoice(self, ctx, invoice_id, as_of=None):
        """The invoice with its ``standing`` on ``as_of`` (default today UTC)."""
        return self._get(ctx, INVOICE, invoice_id, as_of)

    @rpc
    def list_invoices(self, ctx, filters=None):
        """``{"items", "next_cursor"}``; filters ``client_id``, ``project_id``, ``status``
        (draft|authorized|paid|pending|overdue|void), ``as_of``, ``limit``, ``cursor``."""
        return self._list(ctx, INVOICE, filters)

    # -- purchase orders ------------------------------------------------------------------

    @rpc
    def place_purchase_order(self, ctx, data, consistency=None):
        """Place an order ``{"client_id", "project_id", "currency", "total", "date"}``."""
        ctx = CommandContext.load(ctx)
        values = load_or_raise(NewPurchaseOrderSchema, data)

        def build(order_id):
            order = PurchaseOrder(order_id)
            order.place(ctx.workspace, values["client_id"], values["project_id"],
                        values["currency"], values["total"], values["date"], at=now())
            return order

        return self._create(ctx, PURCHASE_ORDER, values, build, consistency)

    @rpc
    def finalize_purchase_order(self, ctx, purchase_order_id, expected_version=None):
        ctx = CommandContext.load(ctx)
        return self._change(ctx, PURCHASE_ORDER, purchase_order_id, expected_version,
                            lambda conn, order: order.finalize(at=now()),
                            "finalize_purchase_order")

    @rpc
    def get_purchase_order(self, ctx, purchase_order_id):
        return self._get(ctx, PURCHASE_ORDER, purchase_order_id)

    @rpc
    def list_purchase_orders(self, ctx, filters=None):
        """Filters ``client_id``, ``project_id``, ``status`` (placed|finalized), ``limit``,
        ``cursor``."""
        return self._list(ctx, PURCHASE_ORDER, filters)

    # -- quotes ------------------------------------------------------------------------

    @rpc
    def create_quote(self, ctx, data, consistency=None):
        """Create a draft quote ``{"client_id", "project_id", "currency", "total",
        "valid_until"}``."""
        ctx = CommandContext.load(ctx)
        values = load_or_raise(NewQuoteSchema, data)

        def build(quote_id):
            quote = Quote(quote_id)
            quote.create(ctx.workspace, values["client_id"], values["project_id"],
                         values["currency"], values["total"], values["valid_until"], at=now())
            return quote

        return self._create(ctx, QUOTE, values, build, consistency)

    @rpc
    def send_quote(self, ctx, quote_id, expected_version=None):
        return self._quote_transition(ctx, quote_id, expected_version, "send")

    @rpc
    def accept_quote(self, ctx, quote_id, expected_version=None):
        return self._quote_transition(ctx, quote_id, expected_version, "accept")

    @rpc
    def reject_quote(self, ctx, quote_id, expected_version=None):
        return self._quote_transition(ctx, quote_id, expected_version, "reject")

    @rpc
    def get_quote(self, ctx, quote_id):
        return self._get(ctx, QUOTE, quote_id)

    @rpc
    def list_quotes(self, ctx, filters=None):
        """Filters ``client_id``, ``project_id``, ``status`` (draft|sent|accepted|rejected|open),
        ``limit``, ``cursor``."""
        return self._list(ctx, QUOTE, filters)

    # -- helpers ----------------------------------------------------------------------

    def _quote_transition(self, ctx, quote_id, expected_version, command):
        ctx = CommandContext.load(ctx)
        return self._change(ctx, QUOTE, quote_id, expected_version,
                            lambda conn, quote: getattr(quote, command)(at=now()),
                            f"{command}_quote")

    def _await_parties(self, workspace, client_id, project_id, consistency):
        """Give the replica a chance to learn of ids it does not know yet (eventual
        consistency): first the positions the caller's Consistency-Token names, then a
        short poll for the ids themselves. Never inside a write transaction."""
        def project_known(conn):
            return not project_id or replica.find_project(conn, workspace, project_id)

        replica.CLIENTS.wait_for(
            self.store.db, self.consumer, workspace, [client_id], consistency,
            token_wait=CONSISTENCY_WAIT, extra_known=project_known,
            unknown_wait=float(self.config.get("BILLING_REPLICA_WAIT", DEFAULT_REPLICA_WAIT)))

    def _create(self, ctx, kind, values, build, consistency):
        """Store a new document of a live client of the workspace (and of its project);
        ``build(id)`` makes it, with the id its command gives it."""
        self._await_parties(ctx.workspace, values["client_id"], values.get("project_id"),
                            consistency)

        def work(uow):
            document = uow.add(build(ctx.new_id(kind.name)))
            replica.check_parties(uow.conn, ctx.workspace, document.client_id,
                                  document.project_id)
            uow.save()
            return {kind.name: queries.resource(kind, document.to_dict(), today_utc()),
                    "position": document.position}

        return self.store.execute(ctx, f"create_{kind.name}", work)

    def _change(self, ctx, kind, document_id, expected_version, command, name=None):
        """Run ``command(conn, document)`` on fresh state and store what it recorded."""
        expected_version = _version(expected_version)

        def work(uow):
            document = documents.load(uow, kind, ctx.workspace, document_id)
            if expected_version is not None and document.version != expected_version:
                raise PreconditionFailed(
                    f"the {kind.noun} is at version {document.version},"
                    f" not {expected_version}", extra={"version": document.version})
            command(uow.conn, document)
            uow.save()
            return {kind.name: queries.resource(kind, document.to_dict(), today_utc()),
                    "position": document.position}

        return self.store.execute(
            ctx, name or f"change_{kind.name}", work, expected_version=expected_version,
            stale=f"the {kind.noun} changed meanwhile; read it again")

    def _get(self, ctx, kind, document_id, as_of=None):
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            record = queries.get(conn, kind, ctx.workspace, document_id)
        if record is None:
            raise NotFound(f"no such {kind.noun}")
        return queries.resource(kind, record, _as_of(as_of))

    def _list(self, ctx, kind, filters):
        ctx = CommandContext.load(ctx)
        filters = dict(filters or {})
        unknown = sorted(set(filters) - set(LIST_FILTERS))
        if unknown:
            raise BadRequest("unknown list parameters", {name: ["unknown parameter"]
                                                         for name in unknown})
        filters["as_of"] = _as_of(filters.get("as_of"))
        with self.store.db.read() as conn:
            return queries.list_documents(conn, kind, ctx.workspace, **filters)
