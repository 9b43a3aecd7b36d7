"""What tax law keeps of an erased client: the legal name and tax id of its issued invoices.

Billing's events and tables name a client by id only. When a client is erased
(docs/privacy.md), contacts first gives billing the client's legal name and tax id, and
billing keeps them beside each invoice of the client that was issued (it has a number:
authorized, paid or void), and beside no other document: a draft was never issued, an
order or a quote is not an invoice. These rows are the only copy of a name or tax id
that outlives an erasure; they are not events (no replay or consumer ever sees them)
and are kept as long as the invoices themselves.
"""
from sqlalchemy import Column, MetaData, String, Table, insert, select

from services.common.context import CommandContext
from services.common.envelope import format_time, utc_now
from services.common.errors import BadRequest
from services.common.rpc import rpc

from .db import invoices_table

metadata = MetaData()

invoice_parties_table = Table(
    "invoice_parties",
    metadata,
    Column("invoice_id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("number", String(20), nullable=False),
    Column("legal_name", String(200)),
    Column("tax_id", String(40)),
    Column("retained_at", String(32), nullable=False),
)


def create_invoice_parties_table(bind):
    metadata.create_all(bind, tables=[invoice_parties_table])


def invoice_party(conn, workspace, invoice_id):
    """``{"legal_name", "tax_id"}`` kept for an erased client's invoice, or None."""
    row = conn.execute(select(invoice_parties_table.c.legal_name, invoice_parties_table.c.tax_id)
                       .where(invoice_parties_table.c.invoice_id == invoice_id)
                       .where(invoice_parties_table.c.workspace == workspace)).first()
    return {"legal_name": row.legal_name, "tax_id": row.tax_id} if row else None


class InvoicePartiesRpc:
    """Mixin of ``BillingService``."""

    @rpc
    def retain_invoice_parties(self, ctx, parties):
        """Keep ``parties`` = ``{client_id: {"legal_name", "tax_id"}}`` beside each issued
        invoice of those clients (a party already kept stays as it was); answers
        ``{"retained": how many invoices}``."""
        ctx = CommandContext.load(ctx)
        if not isinstance(parties, dict) or len(parties) > 100 or not all(
                isinstance(value, dict) for value in parties.values()):
            raise BadRequest("parties must map at most 100 client ids to a legal name and "
                             "a tax id")

        def work(uow):
            conn = uow.conn
            invoices = invoices_table
            kept = set(conn.execute(select(invoice_parties_table.c.invoice_id).where(
                invoice_parties_table.c.client_id.in_(list(parties)))).scalars())
            now = format_time(utc_now())
            rows = [{"invoice_id": row.id, "workspace": ctx.workspace, "client_id": row.client_id,
                     "number": row.number,
                     "legal_name": (parties[row.client_id].get("legal_name") or None),
                     "tax_id": (parties[row.client_id].get("tax_id") or None),
                     "retained_at": now}
                    for row in conn.execute(
                        select(invoices.c.id, invoices.c.client_id, invoices.c.number)
                        .where(invoices.c.workspace == ctx.workspace)
                        .where(invoices.c.client_id.in_(list(parties)))
                        .where(invoices.c.number.is_not(None)))
                    if row.id not in kept]
            if rows:
                conn.execute(insert(invoice_parties_table), rows)
            return {"retained": len(rows)}

        return self.store.execute(ctx, "retain_invoice_parties", work)
