"""Billing's storage on SQLite and PostgreSQL, without the broker: invoice number
counters, documents and their query rows, list filters, and the replica's handlers."""
import itertools
import uuid

import pytest
from sqlalchemy import select, update

from services.billing import documents, queries, replica
from services.billing.db import invoice_number_counters_table, merge_moves_table
from services.billing.domain import Invoice, PurchaseOrder, Quote
from services.billing.numbering import allocate_invoice_number, last_numbers, next_number
from services.billing.queries import INVOICE, PURCHASE_ORDER, QUOTE
from services.billing.service import BillingService, migrate
from services.common.application import UnitOfWork, run_within
from services.common.context import CommandContext
from services.common.db import Database, forget_database
from services.common.eventstore import EventStore
from services.common.envelope import EventEnvelope, new_event_id
from services.common.errors import BadRequest, Conflict, NotFound, ValidationFailed

LINES = [{"description": "Work", "quantity": "1", "unit_price": "100", "tax_rate": "0"}]
_positions = itertools.count(1)


@pytest.fixture
def db(database_url):
    migrate(database_url)
    database = Database(database_url)
    yield database
    database.dispose()
    forget_database(database_url)  # the migration's engine


def event(event_type, data, workspace="acme"):
    return EventEnvelope(new_event_id(), event_type, 1, workspace, str(uuid.uuid4()), 1,
                         next(_positions), "2026-11-23T10:00:00.000000Z", "test", None, data)


def apply(db, source, event_type, data, workspace="acme"):
    with db.write() as conn:
        BillingService.handlers[source][event_type](conn, event(event_type, data, workspace))


def client(db, workspace="acme"):
    client_id = str(uuid.uuid4())
    apply(db, "contacts", "ClientRegistered", {"client_id": client_id, "name": "X"}, workspace)
    return client_id


def load(conn, kind, workspace, document_id):
    """``(document, position)`` as a command's unit of work loads it."""
    uow = UnitOfWork(conn, CommandContext(workspace), EventStore(None), None)
    document = documents.load(uow, kind, workspace, document_id)
    return document, document.position


def save(conn, kind, document, workspace):
    """Store what the document recorded, as a command's unit of work does."""
    run_within(conn, CommandContext(workspace), lambda uow: uow.add(document),
               documents.project_changes)


def save_new(db, document, kind, workspace="acme"):
    with db.write() as conn:
        save(conn, kind, document, workspace)
    return document.id


def invoice(db, client_id, due="2026-02-01", workspace="acme", issue=True, pay=None):
    draft = Invoice(str(uuid.uuid4()))
    draft.draft(workspace, client_id, "EUR", LINES, issue_date="2026-01-01", due_date=due)
    save_new(db, draft, INVOICE, workspace)
    if issue or pay:
        with db.write() as conn:
            document, _ = load(conn, INVOICE, workspace, draft.id)
            document.issue(allocate_invoice_number(conn, workspace, 2026), "2026-01-01")
            if pay:
                document.record_payment(pay, "2026-01-05")
            save(conn, INVOICE, document, workspace=workspace)
    return draft.id


# -- numbering ----------------------------------------------------------------------------


def test_numbers_are_consecutive_per_workspace_and_year(db):
    with db.write() as conn:
        taken = [allocate_invoice_number(conn, "acme", 2026) for _ in range(3)]
        taken.append(allocate_invoice_number(conn, "acme", 2027))
        taken.append(allocate_invoice_number(conn, "globex", 2026))
    assert taken == ["2026-000001", "2026-000002", "2026-000003", "2027-000001",
                     "2026-000001"]
    with pytest.raises(RuntimeError):
        with db.write() as conn:
            assert next_number(conn, "acme", 2026) == 4
            raise RuntimeError("the issue failed")
    with db.write() as conn:
        assert next_number(conn, "acme", 2026) == 4  # the rolled-back number came back
        assert last_numbers(conn, "acme") == {2026: 4, 2027: 1}


def test_a_full_year_refuses_further_numbers(db):
    with db.write() as conn:
        next_number(conn, "acme", 2026)
        conn.execute(update(invoice_number_counters_table).values(last=999999))
    with pytest.raises(Conflict):
        with db.write() as conn:
            allocate_invoice_number(conn, "acme", 2026)
    with db.read() as conn:
        assert conn.execute(select(invoice_number_counters_table.c.last)).scalar() == 999999


def test_the_unique_index_refuses_a_number_given_twice(db):
    from sqlalchemy.exc import IntegrityError

    client_id = client(db)
    first, second = Invoice(str(uuid.uuid4())), Invoice(str(uuid.uuid4()))
    for document in (first, second):
        document.draft("acme", client_id, "EUR", LINES)
        save_new(db, document, INVOICE)
        document.issue("2026-000001", "2026-01-01")
    with db.write() as conn:
        save(conn, INVOICE, first, workspace="acme")
    with pytest.raises(IntegrityError):
        with db.write() as conn:
            save(conn, INVOICE, second, workspace="acme")


# -- documents and lists --------------------------------------------------------------------


def test_documents_load_only_in_their_workspace(db):
    invoice_id = invoice(db, client(db), issue=False)
    with db.read() as conn:
        document, position = load(conn, INVOICE, "acme", invoice_id)
        assert document.status == "draft" and document.version == 1 and position > 0
        for workspace, document_id in (("globex", invoice_id), ("acme", str(uuid.uuid4()))):
            with pytest.raises(NotFound):
                load(conn, INVOICE, workspace, document_id)
            assert queries.get(conn, INVOICE, workspace, document_id) is None
        with pytest.raises(NotFound):  # an invoice is not a quote
            load(conn, QUOTE, "acme", invoice_id)


def test_invoice_filters_count_what_the_overview_counts(db):
    client_id, other = client(db), client(db)
    due_feb = invoice(db, client_id, "2026-02-01")
    partly_paid = invoice(db, client_id, "2026-03-01", pay="40")
    paid = invoice(db, client_id, "2026-02-01", pay="100")
    draft = invoice(db, client_id, issue=False)
    voided = invoice(db, client_id)
    with db.write() as conn:
        document, _ = load(conn, INVOICE, "acme", voided)
        document.void()
        save(conn, INVOICE, document, workspace="acme")
    invoice(db, other, "2026-01-02")
    invoice(db, client_id, "2026-01-02", workspace="globex")

    def ids(status, as_of):
        with db.read() as conn:
            page = queries.list_documents(conn, INVOICE, "acme", client_id=client_id,
                                          status=status, as_of=as_of)
        return {item["id"]: item for item in page["items"]}

    assert set(ids("pending", "2026-02-01")) == {due_feb, partly_paid}
    assert set(ids("overdue", "2026-02-01")) == set()
    assert set(ids("overdue", "2026-02-02")) == {due_feb}
    assert set(ids("overdue", "2026-03-02")) == {due_feb, partly_paid}
    assert ids("overdue", "2026-03-02")[partly_paid]["outstanding"] == "60.00"
    assert ids("overdue", "2026-03-02")[partly_paid]["standing"] == "overdue"
    assert set(ids("paid", "2026-03-02")) == {paid}
    assert set(ids("authorized", "2026-03-02")) == {due_feb, partly_paid, paid}
    assert set(ids("draft", "2026-03-02")) == {draft}
    assert set(ids("void", "2026-03-02")) == {voided}
    assert len(ids(None, "2026-03-02")) == 5
    with db.read() as conn:
        for bad in ({"status": "late"}, {"limit": 0}, {"limit": "501"}, {"cursor": "zz"}):
            with pytest.raises(BadRequest):
                queries.list_documents(conn, INVOICE, "acme", as_of="2026-01-01", **bad)


def test_pages_are_newest_first_without_repeats(db):
    client_id = client(db)
    created = []
    for index in range(7):
        order = PurchaseOrder(str(uuid.uuid4()))
        order.place("acme", client_id, None, "EUR", str(index), "2026-01-01")
        created.append(save_new(db, order, PURCHASE_ORDER))
    seen, cursor = [], None
    with db.read() as conn:
        while True:
            page = queries.list_documents(conn, PURCHASE_ORDER, "acme", limit=3, cursor=cursor)
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == created[::-1]


# -- the replica -----------------------------------------------------------------------------


def test_check_parties(db):
    mine, archived, theirs = client(db), client(db), client(db, "globex")
    apply(db, "contacts", "ClientArchived", {"client_id": archived, "merged_into": mine})
    project = str(uuid.uuid4())
    apply(db, "projects", "ProjectCreated", {"project_id": project, "client_id": None})
    apply(db, "projects", "ClientAssigned", {"project_id": project, "client_id": mine})

    def errors(client_id, project_id=None, **kwargs):
        with db.read() as conn:
            try:
                replica.check_parties(conn, "acme", client_id, project_id, **kwargs)
            except ValidationFailed as exc:
                return exc.errors
        return {}

    assert errors(mine, project) == {}
    assert errors(theirs) == {"client_id": ["no such client"]}
    assert errors(archived) == {"client_id": [f"the client is archived (merged into {mine})"]}
    assert errors(archived, check_client=False) == {}
    apply(db, "projects", "ClientUnassigned", {"project_id": project})
    assert errors(mine, project) == {
        "project_id": ["the project is not one of this client's projects"]}
    apply(db, "contacts", "ClientRestored", {"client_id": archived})
    assert errors(archived) == {}
    assert replica.CLIENTS.wait_for(db, None, "acme", [mine], None, unknown_wait=0)
    assert not replica.CLIENTS.wait_for(db, None, "acme", [theirs], None, unknown_wait=0.05)


def test_merges_move_documents_and_unmerges_move_back_only_what_stayed(db):
    survivor, duplicate, third = client(db), client(db), client(db)
    issued = invoice(db, duplicate)
    order = PurchaseOrder(str(uuid.uuid4()))
    order.place("acme", duplicate, None, "EUR", "10", "2026-01-01")
    save_new(db, order, PURCHASE_ORDER)
    quote = Quote(str(uuid.uuid4()))
    quote.create("acme", duplicate, None, "EUR", "10", "2026-06-30")
    save_new(db, quote, QUOTE)
    theirs = invoice(db, duplicate, workspace="globex")  # same client id, other workspace
    merge_id = str(uuid.uuid4())
    apply(db, "contacts", "ClientsMerged", {"survivor_id": survivor, "merged_ids": [duplicate],
                                            "merge_id": merge_id})

    def client_of(kind, document_id, workspace="acme"):
        with db.read() as conn:
            return queries.get(conn, kind, workspace, document_id)["client_id"]

    assert client_of(INVOICE, issued) == client_of(PURCHASE_ORDER, order.id) \
        == client_of(QUOTE, quote.id) == survivor
    assert client_of(INVOICE, theirs, "globex") == duplicate
    with db.read() as conn:
        moved = conn.execute(select(merge_moves_table)).all()
        document, _ = load(conn, INVOICE, "acme", issued)
    assert len(moved) == 3
    assert document.number == "2026-000001" and document.client_changes[-1]["reason"] == "merge"
    # The order moves on to a third client by a later merge: the unmerge leaves it there.
    apply(db, "contacts", "ClientsMerged", {"survivor_id": third, "merged_ids": [survivor],
                                            "merge_id": "later"})
    apply(db, "contacts", "ClientsUnmerged", {"survivor_id": third, "merged_ids": [survivor],
                                              "merge_id": "later"})
    with db.write() as conn:
        document, _ = load(conn, PURCHASE_ORDER, "acme", order.id)
        document.change_client(third)
        save(conn, PURCHASE_ORDER, document, workspace="acme")
    apply(db, "contacts", "ClientsUnmerged", {"survivor_id": survivor,
                                              "merged_ids": [duplicate], "merge_id": merge_id})
    assert client_of(INVOICE, issued) == client_of(QUOTE, quote.id) == duplicate
    assert client_of(PURCHASE_ORDER, order.id) == third
    with db.read() as conn:
        assert conn.execute(select(merge_moves_table)).all() == []
        stream = EventStore(None).read_stream(issued, conn=conn)
    assert [e.data.get("reason") for e in stream if e.type == "InvoiceClientChanged"] == [
        "merge", "merge", "unmerge", "unmerge"]
