"""Queries of the per-client overview read model."""
from sqlalchemy import select

from .db import overview_clients_table as clients

CLIENT_SUMMARY = ("id", "name", "kind", "tax_id", "email", "phone", "country", "category",
                  "archived")


def empty_sum():
    return {"count": 0, "amount": {}}


def client_overview(conn, workspace, client_id, as_of):
    """The overview of one client as of a date, or None if it is not in ``workspace``."""
    row = conn.execute(select(clients).where(clients.c.id == client_id)
                       .where(clients.c.workspace == workspace)).first()
    if row is None:
        return None
    summary = {field: getattr(row, field) for field in CLIENT_SUMMARY}
    return {
        "client": summary,
        "as_of": as_of.isoformat(),
        "projects": {"count": 0, "total_hours": 0, "items": []},
        "tasks": {"open": 0, "overdue": 0, "due": 0, "upcoming": 0},
        "purchase_orders": {"total": empty_sum(), "finalized": empty_sum()},
        "quotes": {"open": empty_sum(), "accepted": empty_sum()},
        "invoices": {status: empty_sum()
                     for status in ("draft", "authorized", "paid", "pending", "overdue")},
        "chart": {"invoices": [{"label": label, "count": 0, "amount": {}}
                               for label in ("paid", "pending", "overdue")]},
    }
