"""Files larger than one RPC part travel in parts (services/contacts/uploads.py), on
PostgreSQL: attachments and imports through the gateway, downloads read back in parts,
and every way a caller can get an upload wrong."""
import base64
import csv
import io
import uuid

import pytest
from sqlalchemy import func, select

from services.common.errors import BadRequest, ClientfolioError, NotFound
from services.contacts.client.parts import send_file
from services.contacts.uploads import upload_parts_table
from tests.integration.conftest import SERVICES, running
from tests.integration.test_contacts_files import FilesStack

PART = 64 * 1024


class PartsStack(FilesStack):
    """The test stack with 64 KiB parts, so that small files already go in several."""

    def config(self, service):
        return {**super().config(service), "UPLOAD_PART_BYTES": PART}


@pytest.fixture(scope="module")
def stack(vhosts, postgres, tmp_path_factory):
    with running(PartsStack(vhosts.create(),
                            {s: postgres.create(f"parts_{s}") for s in SERVICES},
                            tmp_path_factory.mktemp("parts") / "blobs")) as stack:
        yield stack


@pytest.fixture
def workspace():
    return f"parts-{uuid.uuid4().hex[:8]}"


def parts_left(stack):
    with stack.database("contacts").read() as conn:
        return conn.execute(select(func.count()).select_from(upload_parts_table)).scalar()


def pdf_of(size):
    head = b"%PDF-1.4\n"
    body = bytes((index * 7919) % 251 for index in range(size - len(head)))
    return head + body


def test_an_attachment_of_many_parts_goes_up_and_comes_back_byte_for_byte(stack, workspace):
    session = stack.session(workspace)
    client = session.post(f"{stack.url}/api/v1/clients", json={"name": "Peças Grandes Lda"})
    base = f"{stack.url}/api/v1/clients/{client.json()['id']}/files"
    content = pdf_of(5 * PART + 123)  # six parts, the last one short
    uploaded = session.post(base, files={"file": ("Relatório anual.pdf", content)})
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["size"] == len(content)
    download = session.get(f"{base}/{uploaded.json()['id']}")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["Content-Length"] == str(len(content))
    # Exactly one part's worth is a single message; nothing is left behind either way.
    small = session.post(base, files={"file": ("uma parte.pdf", pdf_of(PART))})
    assert session.get(f"{base}/{small.json()['id']}").content == pdf_of(PART)
    assert parts_left(stack) == 0


def test_an_import_of_many_parts_creates_every_row(stack, workspace):
    session = stack.session(workspace)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["Nombre del cliente", "Correo electrónico", "País"])
    for index in range(2000):
        writer.writerow([f"Cliente Ñandú {index:04d}", f"c{index}@ejemplo.es", "ES"])
    content = out.getvalue().encode("utf-8-sig")
    assert len(content) > PART  # two parts
    job = session.post(f"{stack.url}/api/v1/clients/imports?wait=true",
                       files={"file": ("clientes.csv", content)}, timeout=120)
    assert job.status_code == 200, job.text
    assert (job.json()["status"], job.json()["created"], job.json()["failed"]) == \
        ("done", 2000, 0)
    assert parts_left(stack) == 0


def test_bad_uploads_are_refused_and_leave_nothing_half_done(stack, workspace):
    contacts = stack.rpc.contacts
    ctx = {"workspace": workspace, "actor": "tester", "correlation_id": None}
    client = contacts.create_client(ctx, {"name": "Arxius SL"})["client"]

    def refused(call, *args):
        with pytest.raises(ClientfolioError) as caught:
            call(*args)
        return type(caught.value).__name__

    content = pdf_of(3 * PART)
    reference = send_file(contacts, ctx, content, PART)
    assert reference["parts"] == 3 and reference["size"] == len(content)
    # Another workspace cannot take it.
    other = {**ctx, "workspace": workspace + "-other"}
    assert refused(contacts.attach_file, other, client["id"], "a.pdf", reference) == "Conflict"
    # A size that is not the one sent.
    assert refused(contacts.attach_file, ctx, client["id"], "a.pdf",
                   {**reference, "size": len(content) - 1}) == "Conflict"
    # Taken once, then it is gone.
    attached = contacts.attach_file(ctx, client["id"], "a.pdf", reference)
    assert attached["file"]["size"] == len(content)
    assert refused(contacts.attach_file, ctx, client["id"], "b.pdf", reference) == "Conflict"
    # A missing part.
    incomplete = str(uuid.uuid4())
    for part in (0, 2):
        contacts.upload_part(ctx, incomplete, part, base64.b64encode(b"x" * 10).decode())
    assert refused(contacts.start_import, ctx, "c.csv",
                   {"upload_id": incomplete, "parts": 3, "size": 30}) == "Conflict"
    # A part sent again replaces the first one (an RPC retried after a timeout).
    contacts.upload_part(ctx, incomplete, 1, base64.b64encode(b"y" * 10).decode())
    contacts.upload_part(ctx, incomplete, 1, base64.b64encode(b"z" * 10).decode())
    with stack.database("contacts").read() as conn:
        rows = conn.execute(select(upload_parts_table.c.part, upload_parts_table.c.content)
                            .where(upload_parts_table.c.upload_id == incomplete)
                            .order_by(upload_parts_table.c.part)).all()
    assert [(row.part, bytes(row.content)) for row in rows] == \
        [(0, b"x" * 10), (1, b"z" * 10), (2, b"x" * 10)]
    # Malformed parts and references.
    assert refused(contacts.upload_part, ctx, "not-a-uuid", 0, "eA==") == "BadRequest"
    assert refused(contacts.upload_part, ctx, incomplete, -1, "eA==") == "BadRequest"
    assert refused(contacts.upload_part, ctx, incomplete, 3, "not base64!") == "BadRequest"
    assert refused(contacts.upload_part, ctx, incomplete, 3,
                   base64.b64encode(b"0" * (8 * 1024 * 1024 + 1)).decode()) == \
        "PayloadTooLarge"
    assert refused(contacts.attach_file, ctx, client["id"], "d.pdf",
                   {"upload_id": incomplete}) == "BadRequest"
    assert refused(contacts.attach_file, ctx, client["id"], "d.pdf",
                   {"upload_id": incomplete, "parts": 3,
                    "size": 20 * 1024 * 1024 + 1}) == "PayloadTooLarge"
    # The refusals changed nothing: one file, and the incomplete upload still waits.
    assert [f["size"] for f in contacts.list_files(ctx, client["id"])["items"]] == \
        [len(content)]
    assert parts_left(stack) == 3


def test_downloads_in_parts_check_their_range(stack, workspace):
    contacts = stack.rpc.contacts
    ctx = {"workspace": workspace, "actor": "tester", "correlation_id": None}
    client = contacts.create_client(ctx, {"name": "Rangs SA"})["client"]
    content = pdf_of(1000)
    meta = contacts.attach_file(ctx, client["id"], "r.pdf",
                                base64.b64encode(content).decode())["file"]
    middle = contacts.read_file(ctx, client["id"], meta["id"], 100, 50)
    assert (middle["offset"], middle["size"]) == (100, 1000)
    assert base64.b64decode(middle["data"]) == content[100:150]
    tail = contacts.read_file(ctx, client["id"], meta["id"], 990, 50)
    assert base64.b64decode(tail["data"]) == content[990:]
    with pytest.raises(BadRequest):
        contacts.read_file(ctx, client["id"], meta["id"], 0, 9 * 1024 * 1024)
    with pytest.raises(NotFound):
        contacts.read_file(ctx, client["id"], str(uuid.uuid4()), 0, 10)


def test_a_large_errors_csv_is_read_in_parts(stack, workspace):
    session = stack.session(workspace)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Nome legal", "E-mail", "País"])
    for index in range(1500):
        writer.writerow([f"Empresa Açoriana {index:04d}", f"sem-arroba-{index}", "PT"])
    job = session.post(f"{stack.url}/api/v1/clients/imports?wait=true",
                       files={"file": ("empresas.csv", out.getvalue().encode("utf-8"))},
                       timeout=120).json()
    assert (job["status"], job["failed"]) == ("done", 1500)
    report = session.get(f"{stack.url}/api/v1/clients/imports/{job['id']}/errors.csv")
    assert report.status_code == 200
    assert len(report.content) > 2 * PART  # three parts or more
    assert report.headers["Content-Length"] == str(len(report.content))
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert rows[0] == ["Nome legal", "E-mail", "País", "error"]
    assert [row[0] for row in rows[1:]] == [f"Empresa Açoriana {n:04d}" for n in range(1500)]
    assert rows[-1][-1].startswith("row 1501: email")
    # The same bytes as the one-message form, made once and kept.
    ctx = {"workspace": workspace, "actor": "tester", "correlation_id": None}
    assert stack.rpc.contacts.import_errors_csv(ctx, job["id"]).encode("utf-8") == \
        report.content
    with pytest.raises(BadRequest):
        stack.rpc.contacts.read_import_errors(ctx, job["id"], -1, 10)
    with pytest.raises(NotFound):
        stack.rpc.contacts.read_import_errors(
            {**ctx, "workspace": workspace + "-other"}, job["id"], 0, 10)
