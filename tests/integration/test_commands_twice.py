"""Every command received twice takes effect once and answers the same both times.

nameko acknowledges an RPC request after it sent the reply, so a service that dies in
between receives the request again; a gateway that takes over an abandoned
Idempotency-Key sends the command again. Here each command of each service is sent
twice with the same command id, as those redeliveries do (the real broker, every
service running): the second answer equals the first, nothing is appended twice, and
a state change is never refused as already done.
"""
import base64
import uuid

import pytest

from tests.helpers import wait_until

LINES = [{"description": "Obra", "quantity": "2", "unit_price": "60.00", "tax_rate": "21"}]


@pytest.fixture
def rpc(stack):
    HEADS["rpc"] = stack.rpc
    return stack.rpc


HEADS = {}


def heads(rpc):
    return {name: len(getattr(rpc, name).events_since(0, 5000))
            for name in ("contacts", "projects", "billing")}


def twice(call, *args, background=False, **kwargs):
    """Send one command twice with one command id: the second answers what the first
    did and appends nothing anywhere (``background``: the command starts work that
    appends on its own, such as an import job; then only the answers are compared)."""
    ctx = {"workspace": "acme", "actor": "user:ana", "correlation_id": None,
           "command_id": f"twice:{uuid.uuid4().hex}"}
    first = call(ctx, *args, **kwargs)
    before = heads(HEADS["rpc"])
    second = call(dict(ctx), *args, **kwargs)
    assert second == first
    if not background:
        assert heads(HEADS["rpc"]) == before
    return first


def test_each_command_sent_twice_takes_effect_once(stack, rpc):
    contacts, projects, billing = rpc.contacts, rpc.projects, rpc.billing
    client = twice(contacts.create_client, {"name": "Taller Gràfic Roig"})["client"]
    other = twice(contacts.create_client, {"name": "Taller Grafic Roig SL"})["client"]
    twice(contacts.update_client, client["id"], {"email": "hola@roig.example.cat"})
    photo = base64.b64encode(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )).decode()
    twice(contacts.set_photo, client["id"], photo)
    attached = twice(contacts.attach_file, client["id"], "pressupost.txt",
                     base64.b64encode(b"Pressupost 2026").decode())
    assert len(contacts.list_files({"workspace": "acme"}, client["id"])["items"]) == 1
    twice(contacts.remove_file, client["id"], attached["file"]["id"])
    merged = twice(contacts.merge_clients, client["id"], [other["id"]])
    twice(contacts.unmerge_clients, client["id"], merged["merge_id"])
    twice(contacts.archive_client, other["id"])
    twice(contacts.restore_client, other["id"])

    wait_until(lambda: projects.client_totals({"workspace": "acme"}, client["id"]) is not None)
    project = twice(projects.create_project, {"name": "Catàleg 2027"})["project"]
    twice(projects.update_project, project["id"], {"client_id": client["id"]})
    second_project = twice(projects.create_project, {"name": "Web"})["project"]
    bulk = twice(projects.bulk_assign_client, client["id"], [second_project["id"]])
    assert bulk["assigned"] == [second_project["id"]]
    entry = twice(projects.log_time, project["id"], {"date": "2026-11-02", "hours": "3"})
    task = twice(projects.add_task, project["id"], {"title": "Maqueta",
                                                   "due_date": "2026-11-30"})["task"]
    twice(projects.update_task, project["id"], task["id"], {"status": "done"})
    totals = projects.client_totals({"workspace": "acme"}, client["id"])
    assert totals["projects"] == 2 and totals["total_hours"] == 3
    assert entry["time_entry"]["hours"] == 3

    def billable():
        try:
            billing.create_invoice({"workspace": "acme", "command_id": "probe"}, {
                "client_id": client["id"], "project_id": project["id"], "currency": "EUR",
                "lines": LINES})
            return True
        except Exception:
            return False

    wait_until(billable, timeout=15, message="billing to know the client and project")
    invoice = twice(billing.create_invoice, {
        "client_id": client["id"], "project_id": project["id"], "currency": "EUR",
        "lines": LINES, "due_date": "2030-01-31"})["invoice"]
    issued = twice(billing.issue_invoice, invoice["id"], {"issue_date": "2026-11-03"})
    assert issued["invoice"]["number"] == "2026-000001"
    paid = twice(billing.record_payment, invoice["id"], {"amount": "45.20",
                                                         "date": "2026-11-10"})
    assert paid["invoice"]["paid"] == "45.20"
    draft = twice(billing.create_invoice, {"client_id": client["id"], "currency": "EUR",
                                           "lines": LINES})["invoice"]
    assert twice(billing.void_invoice, draft["id"])["invoice"]["status"] == "void"
    order = twice(billing.place_purchase_order, {
        "client_id": client["id"], "currency": "EUR", "total": "500.00",
        "date": "2026-11-04"})["purchase_order"]
    twice(billing.finalize_purchase_order, order["id"])
    quote = twice(billing.create_quote, {"client_id": client["id"], "currency": "EUR",
                                         "total": "900.00", "valid_until": "2026-12-31"})
    twice(billing.send_quote, quote["quote"]["id"])
    twice(billing.accept_quote, quote["quote"]["id"])
    invoices = billing.list_invoices({"workspace": "acme"}, {"client_id": client["id"]})
    assert len(invoices["items"]) == 3  # the probe, the issued one, the voided draft


def test_an_import_and_its_revert_sent_twice_run_once(stack, rpc):
    contacts = rpc.contacts
    csv = "Nombre;NIF;Correo electrónico\nFerretería Nadal;;nadal@ferreteria.example.es\n"
    job = twice(contacts.start_import, "clientes.csv",
                base64.b64encode(csv.encode("utf-8")).decode(), "create", background=True)
    done = wait_until(lambda: (lambda found: found if found["status"] == "done" else None)(
        contacts.get_import({"workspace": "acme"}, job["id"])), timeout=30,
        message="the import to finish")
    assert done["created"] == 1
    reverted = twice(contacts.revert_import, job["id"])
    assert reverted["archived"] == 1
    found = contacts.list_clients({"workspace": "acme"}, {"q": "nadal", "archived": "all"})
    assert len(found["items"]) == 1 and found["items"][0]["archived"] is True
