"""The right to erasure, end to end on PostgreSQL (docs/privacy.md).

A person with projects, invoices, a photo, an attachment, a history of changes, a client
merged into it, another merged and unmerged, an import and an Idempotency-Key behind
it is erased; then every database of the stack, the event stores, a queue that received
every event, the file store and the files the product wrote are searched for the
person's name, email, phone and tax id: nothing is found but the legal name and tax id
the issued invoice keeps (billing's ``invoice_parties``). A rebuilt read model and a
replay of every source's log (as every consumer reads it) bring nothing back, and the
workspace's figures are unchanged.
"""
import csv
import io
import json
import uuid
from decimal import Decimal

import pytest
from kombu import Connection
from sqlalchemy import create_engine, inspect, text

from gateway.rebuild import rebuild
from services.common.config import database_url
from services.common.db import driver_url
from tests.helpers import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.rabbit]

NAME = "Ximena Quiroga-Pelletier"
EMAIL = "ximena.quiroga@privacy.example.org"
PHONE = "+34 699 847 213"
TAX_ID = "12345678Z"
DUP_NAME = "X. Quiroga Pelletier"
DUP_EMAIL = "xq.pelletier@privacy.example.org"
OLD_PHONE = "+34 655 901 382"
# What must be found nowhere (folded, compact and as typed); the invoice rule keeps the
# legal name and tax id in one table and nowhere else.
EVERYWHERE = ("ximena.quiroga", "xq.pelletier", "699847213", "699 847 213", "655901382",
              "655 901 382")
KEPT_BY_INVOICES = ("quiroga", "pelletier", "12345678z")
INVOICE_PARTIES = ("billing", "invoice_parties")


def call(session, stack, method, path, expect=(200, 201), **kwargs):
    response = session.request(method, f"{stack.url}/api/v1{path}", timeout=60, **kwargs)
    assert response.status_code in expect, response.text
    return response


def png():
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def import_file(rows):
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(
        [["Nombre", "NIF", "Correo electrónico", "Teléfono", "País", "Notas"], *rows])
    return out.getvalue().encode("utf-8")


def probe_queue(amqp_uri):
    """A queue bound to every event of every service, never consumed: what the broker
    carried, kept for the search."""
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for source in ("contacts", "projects", "billing"):
            channel.exchange_declare(f"{source}.events", "topic", durable=True,
                                     auto_delete=False)
            channel.queue_declare("privacy-probe", durable=True, auto_delete=False)
            channel.queue_bind("privacy-probe", f"{source}.events", "#")


def drain_probe(amqp_uri):
    bodies = []
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        while True:
            message = channel.basic_get("privacy-probe", no_ack=True)
            if message is None:
                return bodies
            bodies.append(message.body if isinstance(message.body, bytes)
                          else message.body.encode())


def database_texts(stack):
    """``{(service, table): text of every row}`` of every table of every database."""
    found = {}
    for service in ("contacts", "projects", "billing", "gateway"):
        engine = create_engine(driver_url(database_url(stack.config(service), service)))
        try:
            with engine.connect() as conn:
                for table in inspect(conn).get_table_names():
                    rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
                    parts = []
                    for row in rows:
                        for value in row:
                            if isinstance(value, (bytes, memoryview)):
                                parts.append(bytes(value).decode("utf-8", "ignore"))
                            elif value is not None:
                                parts.append(str(value))
                    found[(service, table)] = "\n".join(parts).lower()
        finally:
            engine.dispose()
    return found


def file_texts(root):
    return {str(path): path.read_bytes().decode("utf-8", "ignore").lower()
            for path in root.rglob("*") if path.is_file()}


def hits(texts, terms):
    return sorted((where, term) for where, body in texts.items() for term in terms
                  if term in body)


def workspace_figures(stack, workspace):
    """What the read model holds for the workspace that needs no person: counts and
    amounts, from the live generation's tables."""
    engine = create_engine(driver_url(database_url(stack.config("gateway"), "gateway")))
    try:
        with engine.connect() as conn:
            generation = conn.execute(text("SELECT active FROM read_model_state")).scalar()
            prefix = f"rm{generation}_"

            def one(sql):
                return conn.execute(text(sql.replace("T_", prefix)),
                                    {"w": workspace}).all()
            return {
                "clients": one("SELECT count(*) FROM T_clients WHERE workspace = :w"),
                "projects": one("SELECT count(*), client_id FROM T_projects WHERE workspace = :w "
                                "GROUP BY client_id ORDER BY client_id"),
                "hours": sum(Decimal(r[0]) for r in one(
                    "SELECT hours FROM T_projects WHERE workspace = :w")),
                "invoices": sorted((r[0], Decimal(r[1]), Decimal(r[2]), r[3]) for r in one(
                    "SELECT status, total, outstanding, client_id FROM T_invoices "
                    "WHERE workspace = :w")),
            }
    finally:
        engine.dispose()


@pytest.fixture
def pg_stack(make_stack):
    return make_stack("postgres").start()


def test_erasure_leaves_nothing_of_the_person_but_what_invoices_keep(pg_stack, amqp_uri,
                                                                    tmp_path):
    stack = pg_stack
    probe_queue(amqp_uri)
    admin = stack.session("acme", "admin")
    member = stack.session("acme", "member")

    # -- the person, with everything behind them ------------------------------------------
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    person = call(admin, stack, "POST", "/clients", headers=key, json={
        "kind": "person", "name": NAME, "email": EMAIL, "phone": OLD_PHONE, "tax_id": TAX_ID,
        "country": "ES", "notes": f"Prefers calls; {NAME} at home",
        "address": {"street": "Calle Quiroga 7", "city": "Madrid"}}).json()
    pid = person["id"]
    call(admin, stack, "PATCH", f"/clients/{pid}", json={"phone": PHONE})
    duplicate = call(admin, stack, "POST", "/clients", json={
        "kind": "person", "name": DUP_NAME, "email": DUP_EMAIL, "country": "ES"}).json()
    other = call(admin, stack, "POST", "/clients", json={
        "name": "Benedita Farias", "email": "benedita@farias.example.com",
        "country": "PT"}).json()
    unmerged = call(admin, stack, "POST", "/clients", json={
        "name": "Rui Ventura", "email": "rui@ventura.example.com", "country": "PT"}).json()
    merge = call(admin, stack, "POST", f"/clients/{pid}/merge", json={
        "duplicate_ids": [unmerged["id"]], "fields": {}, "dry_run": False}).json()
    call(admin, stack, "POST", f"/clients/{pid}/unmerge", json={"merge_id": merge["merge_id"]})
    call(admin, stack, "POST", f"/clients/{pid}/merge", json={
        "duplicate_ids": [duplicate["id"]], "fields": {}, "dry_run": False})

    project = call(admin, stack, "POST", "/projects", json={
        "name": "Kitchen refit", "client_id": pid}).json()
    call(admin, stack, "POST", f"/projects/{project['id']}/time-entries",
         json={"date": "2026-11-02", "hours": "6.5", "description": "measuring"})
    call(admin, stack, "POST", f"/projects/{project['id']}/tasks",
         json={"title": "Order tiles", "due_date": "2026-11-10"})
    lines = [{"description": "Works", "quantity": "10", "unit_price": "100.00",
              "tax_rate": "21"}]
    issued = call(admin, stack, "POST", "/invoices", json={
        "client_id": pid, "project_id": project["id"], "currency": "EUR",
        "issue_date": "2026-11-01", "due_date": "2026-11-15", "lines": lines}).json()
    call(admin, stack, "POST", f"/invoices/{issued['id']}/issue", json={"issue_date": "2026-11-01"})
    call(admin, stack, "POST", f"/invoices/{issued['id']}/payments",
         json={"amount": "200.00", "date": "2026-11-05"})
    draft = call(admin, stack, "POST", "/invoices", json={
        "client_id": pid, "currency": "EUR", "issue_date": "2026-11-20", "lines": lines}).json()
    other_project = call(admin, stack, "POST", "/projects", json={
        "name": "Audit", "client_id": other["id"]}).json()
    call(admin, stack, "POST", f"/projects/{other_project['id']}/time-entries",
         json={"date": "2026-11-03", "hours": "3", "description": "audit"})
    other_invoice = call(admin, stack, "POST", "/invoices", json={
        "client_id": other["id"], "currency": "EUR", "issue_date": "2026-11-01",
        "lines": lines}).json()
    call(admin, stack, "POST", f"/invoices/{other_invoice['id']}/issue",
         json={"issue_date": "2026-11-01"})

    call(admin, stack, "PUT", f"/clients/{pid}/photo", data=png(),
         headers={"Content-Type": "image/png"})
    call(admin, stack, "POST", f"/clients/{pid}/files", files={
        "file": (f"{NAME} - contract.txt", f"Contract of {NAME}, {EMAIL}".encode())})

    job = call(admin, stack, "POST", "/clients/imports?wait=true", data={"mode": "upsert"},
               files={"file": ("clients.csv", import_file([
                   [NAME, TAX_ID, EMAIL, PHONE, "ES", "imported note"],
                   [NAME, "00000000A", EMAIL, PHONE, "ES", "row with a bad tax id"],
                   ["Ingrid Solberg", "", "ingrid@solberg.example.com", "", "NO", ""]]))}).json()
    assert job["status"] == "done" and job["failed"] == 1, job
    report = call(admin, stack, "GET", f"/clients/imports/{job['id']}/errors.csv")
    assert "quiroga" in report.content.decode("utf-8-sig").lower()  # made and stored

    def settled():
        figures = workspace_figures(stack, "acme")
        return figures if figures["hours"] == Decimal("9.5") and len(
            figures["invoices"]) == 3 and figures["clients"][0][0] == 5 else None
    try:
        before = wait_until(settled, timeout=30, message="the read model to settle")
    except AssertionError:
        raise AssertionError(workspace_figures(stack, "acme")) from None
    other_before = call(admin, stack, "GET", f"/clients/{other['id']}/overview",
                        params={"as_of": "2026-11-20"}).json()
    found = database_texts(stack)
    assert hits(found, ["ximena.quiroga"]), "the search must see what it looks for"

    # -- refusals -------------------------------------------------------------------------
    path = f"/api/v1/clients/{pid}/erase"
    refused = admin.post(f"{stack.url}{path}", json={})
    assert refused.status_code == 422 and refused.json()["code"] == "erasure_not_confirmed"
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    refused = admin.post(f"{stack.url}{path}", json={"confirmation": "Someone Else"})
    assert refused.status_code == 422 and refused.json()["code"] == "erasure_not_confirmed"
    assert refused.json()["codes"] == {"confirmation": ["erasure_not_confirmed"]}
    refused = admin.post(f"{stack.url}{path}", json={"confirmation": NAME, "force": True})
    assert refused.status_code == 422
    refused = member.post(f"{stack.url}{path}", json={"confirmation": NAME})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    refused = admin.post(f"{stack.url}/api/v1/clients/{duplicate['id']}/erase",
                         json={"confirmation": duplicate["id"]})
    assert refused.status_code == 409 and refused.json()["code"] == "client_merged"
    assert admin.get(f"{stack.url}/api/v1/clients/{pid}").status_code == 200

    # -- the erasure (twice with its key: one effect) --------------------------------------
    export_before = call(admin, stack, "GET", f"/clients/{pid}/personal-data").json()
    assert export_before["client"]["email"] == EMAIL and export_before["history"]
    assert [p["id"] for p in export_before["projects"]] == [project["id"]]
    assert sorted(i["id"] for i in export_before["invoices"]) == sorted([issued["id"],
                                                                        draft["id"]])
    assert [i["row"] for i in export_before["imports"]] == [2]
    assert export_before["photo"]["content_type"] == "image/png"
    assert [f["name"] for f in export_before["files"]] == [f"{NAME} - contract.txt"]
    assert any(m["merge_id"] == merge["merge_id"] for m in export_before["merges"])
    erase_key = {"Idempotency-Key": f"erase-{uuid.uuid4()}"}
    erased = call(admin, stack, "POST", f"/clients/{pid}/erase", headers=erase_key,
                  json={"confirmation": NAME})
    again = call(admin, stack, "POST", f"/clients/{pid}/erase", headers=erase_key,
                 json={"confirmation": NAME})
    assert erased.json() == again.json()
    assert sorted(erased.json()["erased_ids"]) == sorted([pid, duplicate["id"]])
    token = erased.headers["Consistency-Token"]
    repeat = admin.post(f"{stack.url}{path}", json={"confirmation": pid})
    assert repeat.status_code == 410 and repeat.json()["code"] == "client_erased"

    for gone in (f"/clients/{pid}", f"/clients/{duplicate['id']}", f"/clients/{pid}/history",
                 f"/clients/{pid}/personal-data", f"/clients/{pid}/files"):
        response = admin.get(f"{stack.url}/api/v1{gone}", headers={"Consistency-Token": token})
        assert response.status_code == 410, (gone, response.text)
        assert response.json()["code"] == "client_erased"
        assert response.headers["Content-Type"].startswith("application/problem+json")
    overview = admin.get(f"{stack.url}/api/v1/clients/{pid}/overview",
                         headers={"Consistency-Token": token})
    assert overview.status_code == 410 and overview.json()["code"] == "client_erased"
    listed = call(admin, stack, "GET", "/clients", params={"q": "quiroga", "archived": "all"})
    assert listed.json()["items"] == []
    exported = call(admin, stack, "GET", "/clients/export", params={"format": "csv"})
    assert "quiroga" not in exported.content.decode("utf-8-sig").lower()
    replayed = admin.post(f"{stack.url}/api/v1/clients", headers=key, json={
        "kind": "person", "name": NAME, "email": EMAIL, "phone": OLD_PHONE, "tax_id": TAX_ID,
        "country": "ES", "notes": f"Prefers calls; {NAME} at home",
        "address": {"street": "Calle Quiroga 7", "city": "Madrid"}})
    assert replayed.status_code == 410 and "quiroga" not in replayed.text.lower()
    assert call(admin, stack, "GET", f"/clients/{unmerged['id']}").json()["name"] == "Rui Ventura"
    assert call(admin, stack, "GET", f"/invoices/{draft['id']}").status_code == 200
    # Nothing new can name the erased client.
    refused = admin.post(f"{stack.url}/api/v1/projects", json={"name": "More",
                                                               "client_id": pid})
    assert refused.status_code in (404, 409, 410, 422), refused.text

    wait_until(lambda: workspace_figures(stack, "acme") == before, timeout=30,
               message="the workspace's figures to be as before")
    assert call(admin, stack, "GET", f"/clients/{other['id']}/overview",
                params={"as_of": "2026-11-20"}).json() == other_before

    # -- search everything ------------------------------------------------------------------
    def leftovers():
        texts = database_texts(stack)
        found = hits(texts, EVERYWHERE) + [
            hit for hit in hits(texts, KEPT_BY_INVOICES) if hit[0] != INVOICE_PARTIES]
        return found
    try:
        wait_until(lambda: not leftovers(), timeout=30, interval=0.2)
    except AssertionError:
        raise AssertionError(f"personal data left: {leftovers()}") from None
    kept = database_texts(stack)[INVOICE_PARTIES]
    assert "quiroga-pelletier" in kept and "12345678z" in kept and "ximena.quiroga" not in kept
    files = file_texts(tmp_path / "data")
    assert hits(files, EVERYWHERE + KEPT_BY_INVOICES) == []
    assert not (tmp_path / "data" / "files" / "contacts" / pid).exists()
    broker = {f"message {n}": body.decode("utf-8", "ignore").lower()
              for n, body in enumerate(drain_probe(amqp_uri))}
    assert len(broker) > 20  # every event went through it
    assert hits(broker, EVERYWHERE + KEPT_BY_INVOICES) == [], [broker[w] for w, _ in hits(broker, EVERYWHERE + KEPT_BY_INVOICES)]
    report = admin.get(f"{stack.url}/api/v1/clients/imports/{job['id']}/errors.csv")
    assert report.status_code == 200 and "quiroga" not in report.text.lower()

    # -- replays bring nothing back ---------------------------------------------------------
    rpc = stack.rpc
    for source in ("contacts", "projects", "billing"):
        events = getattr(rpc, source).events_since(0, 5000)
        logged = {f"{source} {e['position']}": json.dumps(e).lower() for e in events}
        opened = getattr(rpc, source).reveal_events([e["position"] for e in events])
        logged.update({f"{source} opened {p}": json.dumps(d).lower() for p, d in opened.items()})
        assert hits(logged, EVERYWHERE + KEPT_BY_INVOICES) == []
    config = stack.config("gateway")
    gateway_db = stack.database("gateway")
    rebuild(gateway_db, config, progress=lambda line: None)
    texts = database_texts(stack)
    assert hits(texts, EVERYWHERE) == []
    assert [hit for hit in hits(texts, KEPT_BY_INVOICES) if hit[0] != INVOICE_PARTIES] == []
    assert workspace_figures(stack, "acme") == before
    overview = admin.get(f"{stack.url}/api/v1/clients/{pid}/overview")
    assert overview.status_code == 410
