"""Bulk import and export of clients over HTTP: jobs, verdicts, errors.csv, revert,
limits, round trips and tenant isolation."""
import csv
import io
import json

import pytest
from openpyxl import Workbook, load_workbook

from tests.helpers import wait_until
from tests.integration.conftest import Stack, running, sqlite_urls

BOM = "\ufeff"


class ImportStack(Stack):
    """The test stack with small import limits (1 MiB files, batches of 7 rows)."""

    def config(self, service):
        return {**super().config(service), "IMPORT_MAX_BYTES": 1024 * 1024,
                "IMPORT_BATCH_SIZE": 7}


@pytest.fixture(scope="module")
def stack(vhosts, tmp_path_factory):
    with running(ImportStack(vhosts.create(),
                             sqlite_urls(tmp_path_factory.mktemp("imports")))) as stack:
        yield stack


_counter = iter(range(10**6))


@pytest.fixture
def workspace():
    return f"imp{next(_counter)}"


def csv_bytes(rows, delimiter=",", encoding="utf-8"):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def upload(session, stack, content, name="clients.csv", wait=True, **fields):
    data = {k: (json.dumps(v) if isinstance(v, dict) else str(v).lower() if isinstance(v, bool)
                else v) for k, v in fields.items()}
    return session.post(f"{stack.url}/api/v1/clients/imports" + ("?wait=true" if wait else ""),
                        files={"file": (name, content)}, data=data, timeout=60)


def all_clients(session, stack, **params):
    items, cursor = [], None
    while True:
        query = {"limit": 500, "archived": "all", **params}
        if cursor:
            query["cursor"] = cursor
        page = session.get(f"{stack.url}/api/v1/clients", params=query, timeout=10).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


ES_HEADERS = ["Nombre del cliente", "NIF", "Correo electrónico", "Teléfono móvil", "País",
              "Categoría de cliente", "Adreça", "Notas"]


def test_spanish_semicolon_windows_1252_with_bad_rows(stack, workspace):
    session = stack.session(workspace)
    content = csv_bytes([
        ES_HEADERS + ["Columna rara"],
        ["Construcciones Peña S.L.", "B58378431", "info@pena.es", "612 345 678", "España",
         "Mayorista", "Calle Mayor 1", "línea 1\nlínea 2", "x"],
        ["", "B12345674", "a@b.es", "", "ES", "", "", "", ""],          # missing name
        ["Mal NIF", "B58378432", "c@d.es", "", "ES", "", "", "", ""],   # bad tax id
        ["Mal correo", "", "no-es-un-correo", "", "ES", "", "", "", ""],  # bad email
        ["Duplicado", "ESB58378431", "", "", "ES", "", "", "", ""],     # same tax id as row 2
        ["Ferretería Núñez", "", "", "", "ES", "", "", "", ""],
    ], delimiter=";", encoding="cp1252")
    job = upload(session, stack, content, mode="create").json()
    assert job["status"] == "done", job
    assert (job["total"], job["processed"], job["created"], job["failed"]) == (6, 6, 2, 4)
    assert job["unknown_columns"] == ["Columna rara"]
    by_row = {}
    for error in job["errors"]:
        by_row.setdefault(error["row"], []).append(error["field"])
    assert by_row == {3: ["name"], 4: ["tax_id"], 5: ["email"], 6: ["tax_id"]}
    assert "row 2" in [e for e in job["errors"] if e["row"] == 6][0]["message"]
    clients = {c["name"]: c for c in all_clients(session, stack)}
    assert set(clients) == {"Construcciones Peña S.L.", "Ferretería Núñez"}
    pena = clients["Construcciones Peña S.L."]
    assert pena["phone"] == "+34612345678" and pena["notes"] == "línea 1\nlínea 2"
    assert pena["address"]["street"] == "Calle Mayor 1" and pena["category"] == "Mayorista"

    errors = session.get(f"{stack.url}/api/v1/clients/imports/{job['id']}/errors.csv")
    assert errors.status_code == 200 and errors.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows[0] == ES_HEADERS + ["Columna rara", "error"]
    assert [r[0] for r in rows[1:]] == ["", "Mal NIF", "Mal correo", "Duplicado"]
    assert "tax id" in rows[2][-1] and rows[1][-1].startswith("row 3: name")

    # create mode again: existing tax id is an error, never a duplicate
    again = upload(session, stack, content, mode="create").json()
    assert again["created"] == 1  # only the client without tax id... is created again
    assert any(e["row"] == 2 and e["message"] == "a client with this tax id already exists"
               for e in again["errors"])


@pytest.mark.parametrize("encoding,delimiter,headers", [
    ("utf-8", ",", ["Name", "Tax ID", "Email", "Phone", "Country", "Tags"]),
    ("utf-8-sig", "\t", ["Nome legal", "Número de identificação fiscal", "E-mail",
                         "Telemóvel", "País", "Etiquetas"]),
    ("cp1252", ";", ["Nom", "NIF", "Correu electrònic", "Telèfon mòbil", "País",
                     "Etiquetes"]),
    # Excel's "Unicode Text": UTF-16 with its BOM, tab separated
    ("utf-16", "\t", ["Nombre del cliente", "NIF", "Correo electrónico", "Teléfono móvil",
                      "País", "Etiquetas"]),
])
def test_encodings_delimiters_languages_upsert_twice(stack, workspace, encoding, delimiter,
                                                     headers):
    session = stack.session(workspace)
    rows = [headers,
            ["Lisboa Seguros, Lda.", "PT501964843", "geral@lisboa.pt", "+351 912 345 678",
             "PT", "seguros; vip"],
            ["Ana Núñez", "", "ana@example.com", "", "ES", ""]]
    content = csv_bytes(rows, delimiter, encoding)
    first = upload(session, stack, content, mode="upsert").json()
    assert (first["created"], first["failed"]) == (2, 0), first
    head = stack.rpc.contacts.events_since(0, 5000)
    second = upload(session, stack, content, mode="upsert").json()
    assert (second["unchanged"], second["created"], second["updated"]) == (2, 0, 0), second
    assert len(stack.rpc.contacts.events_since(0, 5000)) == len(head)
    clients = {c["name"]: c for c in all_clients(session, stack)}
    assert clients["Lisboa Seguros, Lda."]["tags"] == ["seguros", "vip"]
    # upsert by tax id changes a field; by email matches the client without tax id
    rows[1][2] = "novo@lisboa.pt"
    rows[2][4] = "PT"
    third = upload(session, stack, csv_bytes(rows, delimiter, encoding), mode="upsert").json()
    assert (third["updated"], third["created"]) == (2, 0), third
    assert len(all_clients(session, stack)) == 2


def test_mapping_dry_run_and_rows(stack, workspace):
    session = stack.session(workspace)
    content = csv_bytes([["Razón social", "Ciudad", "Cosa"], ["Acme", "Girona", "z"]])
    dry = upload(session, stack, content, mode="upsert", dry_run=True,
                 mapping={"Razón social": "name", "Ciudad": "address.city"}).json()
    assert dry["dry_run"] is True and dry["created"] == 1 and dry["unknown_columns"] == ["Cosa"]
    assert all_clients(session, stack) == []
    rows = session.get(f"{stack.url}/api/v1/clients/imports/{dry['id']}/rows").json()
    assert rows["items"][0]["row"] == 2 and rows["items"][0]["outcome"] == "created"
    bad = upload(session, stack, content, mapping={"Razón social": "nope"})
    assert bad.status_code == 422 and "mapping.Razón social" in bad.json()["errors"]


def test_async_job_progress_and_revert(stack, workspace):
    session = stack.session(workspace)
    existing = session.post(f"{stack.url}/api/v1/clients", json={
        "name": "Old Name", "tax_id": "B58378431", "country": "ES", "email": "old@x.es"}).json()
    rows = [["Name", "Tax ID", "Country", "Email"],
            ["New Name", "B58378431", "ES", "old@x.es"]]
    rows += [[f"Client {i}", "", "ES", f"c{i}@x.es"] for i in range(40)]
    response = upload(session, stack, csv_bytes(rows), wait=False, mode="upsert")
    assert response.status_code == 202 and set(response.json()) == {"id", "status"}
    job_id = response.json()["id"]
    assert response.headers["Location"] == f"/api/v1/clients/imports/{job_id}"
    job = wait_until(lambda: (lambda j: j if j["status"] == "done" else None)(
        session.get(f"{stack.url}/api/v1/clients/imports/{job_id}").json()), timeout=30)
    assert (job["total"], job["processed"], job["created"], job["updated"]) == (41, 41, 40, 1)
    assert session.get(f"{stack.url}/api/v1/clients/{existing['id']}").json()["name"] \
        == "New Name"
    # another workspace cannot see or revert it
    other = stack.session(workspace + "b")
    assert other.get(f"{stack.url}/api/v1/clients/imports/{job_id}").status_code == 404
    assert other.post(f"{stack.url}/api/v1/clients/imports/{job_id}/revert").status_code == 404
    assert other.get(f"{stack.url}/api/v1/clients/imports/{job_id}/errors.csv").status_code \
        == 404
    # members import; only admins revert (UI.md: admins manage imports' reverts)
    member = stack.session(workspace, role="member")
    refused = member.post(f"{stack.url}/api/v1/clients/imports/{job_id}/revert")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    reverted = session.post(f"{stack.url}/api/v1/clients/imports/{job_id}/revert")
    assert reverted.status_code == 200, reverted.text
    assert (reverted.json()["archived"], reverted.json()["restored"]) == (40, 1)
    token = reverted.headers["Consistency-Token"]
    old = session.get(f"{stack.url}/api/v1/clients/{existing['id']}",
                      headers={"Consistency-Token": token}).json()
    assert old["name"] == "Old Name" and not old["archived"]
    assert [c["name"] for c in all_clients(session, stack, archived="false")] == ["Old Name"]
    history = session.get(f"{stack.url}/api/v1/clients/{existing['id']}/history").json()
    assert [i["type"] for i in history["items"]] == ["ClientRegistered", "ClientUpdated",
                                                     "ClientUpdated"]
    assert session.post(f"{stack.url}/api/v1/clients/imports/{job_id}/revert").status_code \
        == 409


def test_limits(stack, workspace):
    session = stack.session(workspace)
    big = b"Name\r\n" + b"x" * (1024 * 1024 + 10)
    assert upload(session, stack, big).status_code == 413
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    assert upload(session, stack, png, name="photo.csv").status_code == 415
    zipped = b"PK\x05\x06" + b"\x00" * 18
    assert upload(session, stack, zipped, name="a.xlsx").status_code == 415
    # Text that would parse as a CSV is still refused when it plainly is something else.
    pdf = upload(session, stack, b"%PDF-1.4\nName,Email\n", name="clients.pdf")
    assert pdf.status_code == 415
    assert pdf.headers["Content-Type"] == "application/problem+json"
    assert pdf.json()["detail"].startswith("clients.pdf is not a spreadsheet we can read")
    legacy = upload(session, stack, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", name="Clients.xls")
    assert legacy.status_code == 415 and ".xlsx" in legacy.json()["detail"]
    declared = session.post(f"{stack.url}/api/v1/clients/imports?wait=true", timeout=60,
                            files={"file": ("clients", b'[{"name": "Ana"}]', "application/json")})
    assert declared.status_code == 415
    # Excel on Windows declares a CSV as application/vnd.ms-excel: accepted.
    excel_csv = session.post(f"{stack.url}/api/v1/clients/imports?wait=true", timeout=60,
                             files={"file": ("c.csv", "Nom;País\r\nCal Pep;ES\r\n"
                                             .encode("cp1252"), "application/vnd.ms-excel")})
    assert excel_csv.status_code == 200 and excel_csv.json()["created"] == 1
    empty = upload(session, stack, b"")
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    no_header = upload(session, stack, b"foo,bar\r\n1,2\r\n")
    assert no_header.status_code == 422
    assert no_header.json()["detail"].startswith("We could not find a header row")
    not_multipart = session.post(f"{stack.url}/api/v1/clients/imports", data=b"Name\r\nx",
                                 headers={"Content-Type": "text/csv"})
    assert not_multipart.status_code == 415
    viewer = stack.session(workspace, role="viewer")
    assert upload(viewer, stack, b"Name\r\nx\r\n").status_code == 403
    assert session.get(f"{stack.url}/api/v1/clients/imports/nope").status_code == 404


def _xlsx(rows):
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_import_and_round_trips(stack, workspace):
    session = stack.session(workspace)
    content = _xlsx([
        ["Nombre", "NIF", "Correo electrónico", "Teléfono", "País", "Etiquetas", "Notas",
         "Sitio web", "Código postal", "Fecha añadida"],
        ["'=1+2 Consulting", "B58378431", "a@b.es", "+34612345678", "ES", "a; b",
         "-5 de descuento\ny más", "example.com", 8001, "2020-01-01"],
        ["@Persona", None, None, None, "PT", None, None, None, None, None],
    ])
    job = upload(session, stack, content, name="c.xlsx", mode="create").json()
    assert (job["created"], job["failed"]) == (2, 0), job["errors"]
    assert job["ignored_columns"] == ["Fecha añadida"]
    # Tags holding commas and a value that already starts with a quoted formula.
    tricky = {"Lone Comma": {"tags": ["x,y"], "notes": "'=already quoted"},
              "Two Tags": {"tags": ["a", "x,y"], "notes": "''+1"},
              "Quoted Tag": {"tags": ["=x,y"], "notes": "'@sum"}}
    for name, fields in tricky.items():
        created = session.post(f"{stack.url}/api/v1/clients", json={"name": name, **fields})
        assert created.status_code == 201, created.text

    for format in ("csv", "xlsx"):
        exported = session.get(f"{stack.url}/api/v1/clients/export", params={"format": format})
        assert exported.status_code == 200
        assert exported.headers["Content-Disposition"].startswith("attachment; filename=")
        if format == "csv":
            assert exported.content.startswith(BOM.encode())
            text = exported.content.decode("utf-8-sig")
            assert "'=1+2 Consulting" in text and "'+34612345678" in text and "'@Persona" in text
        else:
            sheet = load_workbook(io.BytesIO(exported.content), read_only=True).active
            values = [list(r) for r in sheet.iter_rows(values_only=True)]
            assert values[0][:3] == ["Name", "Kind", "Tax ID"]
        again = upload(session, stack, exported.content, name=f"export.{format}",
                       mode="upsert").json()
        assert (again["unchanged"], again["created"], again["updated"], again["failed"]) \
            == (5, 0, 0, 0), (format, again)
    clients = {c["name"]: c for c in all_clients(session, stack)}
    assert sorted(clients) == ["=1+2 Consulting", "@Persona", "Lone Comma", "Quoted Tag",
                               "Two Tags"]
    for name, fields in tricky.items():
        assert {key: clients[name][key] for key in fields} == fields, name


def test_export_filters_and_bad_format(stack, workspace):
    session = stack.session(workspace)
    for name, category in (("Uno", "A"), ("Dos", "B")):
        session.post(f"{stack.url}/api/v1/clients", json={"name": name, "category": category})
    out = session.get(f"{stack.url}/api/v1/clients/export", params={"category": "b"})
    rows = list(csv.reader(io.StringIO(out.content.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["Dos"]
    assert session.get(f"{stack.url}/api/v1/clients/export",
                       params={"format": "pdf"}).status_code == 400
    assert session.get(f"{stack.url}/api/v1/clients/export",
                       params={"added_from": "nope"}).status_code == 400


def test_command_line_export_and_import(stack, workspace, tmp_path):
    from clientfolio.cli import build_parser

    from clientfolio import clients_cli

    session = stack.session(workspace)
    session.post(f"{stack.url}/api/v1/clients", json={"name": "Shell", "phone": "+34612345678"})
    config = {"AMQP_URI": stack.amqp_uri}
    target = tmp_path / "out.csv"
    args = build_parser().parse_args(["clients", "export", str(target), "--workspace",
                                      workspace, "--mode", "upsert"])
    log = io.StringIO()
    assert clients_cli.cmd_export(args, config, out=log) == 0
    assert "exported 1 clients" in log.getvalue()
    assert "'+34612345678" in target.read_text(encoding="utf-8-sig")
    assert clients_cli.cmd_import(args, config, out=log) == 0
    assert "0 created, 0 updated, 1 unchanged, 0 failed" in log.getvalue()
    # A file above the limit is refused before anything is sent, with the way out.
    big = tmp_path / "grande.csv"
    big.write_bytes(csv_bytes([["Nome"]] + [[f"Cliente {n}"] for n in range(200)]))
    refused = io.StringIO()
    args.file = str(big)
    assert clients_cli.cmd_import(args, {**config, "IMPORT_MAX_BYTES": 1024}, out=refused) == 2
    assert "can be at most" in refused.getvalue() and "split it" in refused.getvalue()
    assert "queued" not in refused.getvalue()
    # --errors writes the failed rows, ready to fix and import again.
    bad = tmp_path / "malos.csv"
    bad.write_bytes(csv_bytes([["Nombre del cliente", "Correo electrónico"],
                               ["Bueno SL", "ok@example.es"], ["Malo SL", "sin-arroba"]]))
    args.file, args.errors, args.mode = str(bad), str(tmp_path / "errores.csv"), "create"
    assert clients_cli.cmd_import(args, config, out=io.StringIO()) == 0
    fixed = list(csv.reader(io.StringIO((tmp_path / "errores.csv").read_text("utf-8-sig"))))
    assert [row[0] for row in fixed] == ["Nombre del cliente", "Malo SL"]
    assert fixed[1][-1].startswith("row 3: email")


def test_command_line_refusals_are_plain_messages(stack, workspace, tmp_path):
    """Bad input on the command line: one or two lines and exit code 2, no traceback;
    a broker that does not answer: exit code 1. Nothing is left half-written."""
    from clientfolio.cli import build_parser

    from clientfolio import clients_cli
    from tests.conftest import free_port

    def run(command, file, config=None, **options):
        action = "import" if command is clients_cli.cmd_import else "export"
        args = build_parser().parse_args(["clients", action, str(file), "--workspace",
                                          workspace])
        vars(args).update(options)
        out = io.StringIO()
        code = command(args, config or {"AMQP_URI": stack.amqp_uri}, out=out)
        assert "Traceback" not in out.getvalue()
        return code, out.getvalue()

    pdf = tmp_path / "clientes.pdf"
    pdf.write_bytes(b"%PDF-1.4\nName\n")
    code, said = run(clients_cli.cmd_import, pdf)
    assert code == 2 and said.startswith("clientfolio: clientes.pdf is not a spreadsheet")
    empty = tmp_path / "vacio.csv"
    empty.write_bytes(b"")
    code, said = run(clients_cli.cmd_import, empty)
    assert code == 2 and "The file is empty" in said
    code, said = run(clients_cli.cmd_import, tmp_path / "no-such.csv")
    assert (code, said) == (2, f"clientfolio: {tmp_path / 'no-such.csv'}: "
                               "No such file or directory\n")
    target = tmp_path / "export.csv"
    code, said = run(clients_cli.cmd_export, target, added_from="2026-13-45")
    assert code == 2 and "added_from: must be a date" in said
    assert not target.exists()
    code, said = run(clients_cli.cmd_export, target,
                     config={"AMQP_URI": f"amqp://guest:guest@127.0.0.1:{free_port()}/"})
    assert code == 1 and "cannot reach RabbitMQ" in said and not target.exists()
    assert all_clients(stack.session(workspace), stack) == []  # none of them imported anything


def test_import_answers_carry_a_consistency_token_that_shows_the_clients(stack, workspace):
    session = stack.session(workspace)
    content = csv_bytes([["Nombre", "NIF", "País"],
                         ["Talleres Pérez", "B05236195", "ES"],
                         ["Ferretería Núñez", "", "ES"]])
    done = upload(session, stack, content)
    assert done.status_code == 200, done.text
    token = done.headers["Consistency-Token"]
    assert token.startswith("contacts:") and int(token.split(":")[1]) > 0
    assert "position" not in done.json()
    job = done.json()
    # The overview of every imported client answers with that token.
    clients = {c["name"]: c for c in all_clients(session, stack)}
    for name in ("Talleres Pérez", "Ferretería Núñez"):
        overview = session.get(f"{stack.url}/api/v1/clients/{clients[name]['id']}/overview",
                               headers={"Consistency-Token": token}, timeout=10)
        assert overview.status_code == 200 and overview.json()["client"]["name"] == name
    again = session.get(f"{stack.url}/api/v1/clients/imports/{job['id']}", timeout=10)
    assert again.headers["Consistency-Token"] == token
    queued = upload(session, stack, content, wait=False, mode="upsert")
    assert queued.status_code == 202 and queued.headers["Consistency-Token"]
    assert set(queued.json()) == {"id", "status"}
    refused = session.post(f"{stack.url}/api/v1/clients/imports?wait=maybe",
                           files={"file": ("c.csv", content)}, timeout=10)
    assert refused.status_code == 400 and "wait" in refused.json()["errors"]


def test_an_upsert_without_a_country_column_updates_the_clients_that_have_one(stack, workspace):
    session = stack.session(workspace)
    created = session.post(f"{stack.url}/api/v1/clients", timeout=10, json={
        "name": "Talleres Pérez", "tax_id": "B05236195", "country": "ES", "notes": "n"})
    assert created.status_code == 201, created.text
    done = upload(session, stack, csv_bytes([["Nombre", "NIF", "Ciudad"],
                                             ["Talleres Pérez", "B-05236195", "Madrid"]]),
                  mode="upsert").json()
    assert (done["created"], done["updated"], done["failed"]) == (0, 1, 0), done
    clients = all_clients(session, stack)
    assert len(clients) == 1 and clients[0]["address"]["city"] == "Madrid"
    assert clients[0]["country"] == "ES" and clients[0]["notes"] == "n"


def test_a_one_column_file_keeps_the_commas_of_its_names(stack, workspace):
    session = stack.session(workspace)
    content = "Nombre\nTalleres Pérez, S.A. X\nConstrucciones García, S.L. X\n".encode()
    job = upload(session, stack, content).json()
    assert (job["created"], job["failed"]) == (2, 0), job
    assert sorted(c["name"] for c in all_clients(session, stack)) == [
        "Construcciones García, S.L. X", "Talleres Pérez, S.A. X"]


WIDE = ("Nombre,Ciudad\r\n"
        "Bueno SL,Girona\r\n"
        "Talleres Pérez, S.A.,Madrid\r\n"  # the comma splits the name
        "Excel SL,Lleida,,\r\n").encode()   # empty cells beyond: fine


def test_a_row_wider_than_its_header_is_an_error_not_cut(stack, workspace):
    session = stack.session(workspace)
    job = upload(session, stack, WIDE).json()
    assert (job["total"], job["created"], job["failed"]) == (3, 2, 1), job
    assert {e["row"] for e in job["errors"]} == {3}
    assert sorted(c["name"] for c in all_clients(session, stack)) == ["Bueno SL", "Excel SL"]
    errors = session.get(f"{stack.url}/api/v1/clients/imports/{job['id']}/errors.csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows[1][:3] == ["Talleres Pérez", " S.A.", "Madrid"]


def test_a_row_wider_than_its_header_says_why(stack, workspace):
    job = upload(stack.session(workspace), stack, WIDE).json()
    message, = [e["message"] for e in job["errors"] if e["row"] == 3]
    assert message.startswith("this row has more cells than the header has columns")


def test_everyday_kinds_languages_and_postal_codes(stack, workspace):
    session = stack.session(workspace)
    content = _xlsx([
        ["Nombre", "Tipo", "Idioma", "País", "Código postal"],
        ["Ana Núñez", "Persona física", "Francés", "ES", 8001],
        ["Lisboa Seguros", "Pessoa coletiva", "Inglês", "PT", 1000],
        ["Cal Pep", "Persona jurídica", "Alemany", "España", "8001"],
        ["João Silva", "Pessoa singular", "Italiano", "Brasil", 1310100],
    ])
    job = upload(session, stack, content, name="clientes.xlsx").json()
    assert (job["created"], job["failed"]) == (4, 0), job["errors"]
    got = {c["name"]: (c["kind"], c["language"], c["address"]["postal_code"])
           for c in all_clients(session, stack)}
    assert got == {"Ana Núñez": ("person", "fr", "08001"),
                   "Lisboa Seguros": ("company", "en", "1000"),
                   "Cal Pep": ("company", "de", "08001"),
                   "João Silva": ("person", "it", "01310100")}


def test_a_tax_id_with_and_without_a_country_in_one_file_is_an_in_file_duplicate(
        stack, workspace):
    session = stack.session(workspace)
    content = csv_bytes([["Nombre", "NIF", "País"],
                         ["Con país", "B05236195", "ES"],
                         ["Sin país", "B-05236195", ""],
                         ["Otro país", "501964843", "PT"],
                         ["Mismos dígitos", "50-1964843", "US"]])
    job = upload(session, stack, content).json()
    assert (job["created"], job["failed"]) == (3, 1), job
    assert job["errors"] == [{"row": 3, "field": "tax_id",
                              "message": "this tax id is already in row 2 of the file"}]


def test_errors_csv_of_rows_with_blank_cells_past_the_header_imports_again(stack, workspace):
    """Excel keeps formatted empty cells and spreadsheet exports end rows with ";;":
    the error column must still land under its header, so the fixed file imports."""
    session = stack.session(workspace)
    content = b"Nombre;Correo electr\xf3nico\r\nMal correo;no-es-un-correo;;\r\nBien;b@c.es;;\r\n"
    job = upload(session, stack, content, mode="upsert").json()
    assert (job["created"], job["failed"]) == (1, 1), job
    report = session.get(f"{stack.url}/api/v1/clients/imports/{job['id']}/errors.csv")
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert rows[0] == ["Nombre", "Correo electrónico", "error"]
    assert rows[1][:2] == ["Mal correo", "no-es-un-correo"] and len(rows[1]) == 3
    assert rows[1][2].startswith("row 2: email")
    rows[1][1] = "mal@correo.es"
    again = upload(session, stack, csv_bytes(rows), mode="upsert").json()
    assert (again["created"], again["failed"]) == (1, 0), again


def test_upsert_of_rows_with_neither_tax_id_nor_email_matches_by_name(stack, workspace):
    """A CRM's company export often has names and phones only: importing it twice must
    not double the client list."""
    session = stack.session(workspace)
    content = csv_bytes([["Name", "Phone Number", "Country/Region"],
                         ["São Paulo Seguros Ltda.", "+55 11 3003-3030", "BR"],
                         ["Talleres Pérez, S.A.", "", "ES"]])
    first = upload(session, stack, content, mode="upsert").json()
    assert (first["created"], first["failed"]) == (2, 0), first
    second = upload(session, stack, content, mode="upsert").json()
    assert (second["unchanged"], second["created"]) == (2, 0), second
    # the name alone, in another spelling of case and accents, updates that client (the
    # row's values win, the name's spelling included)
    third = upload(session, stack, csv_bytes([["Nombre", "Teléfono", "País"],
                                              ["TALLERES PEREZ SA", "612 345 678", "ES"]]),
                   mode="upsert").json()
    assert (third["updated"], third["created"]) == (1, 0), third
    # a client known by its email is not taken by a row with its name alone
    session.post(f"{stack.url}/api/v1/clients",
                 json={"name": "Ferretería Núñez", "email": "hola@nunez.es", "country": "ES"})
    fourth = upload(session, stack, csv_bytes([["Name", "Email"], ["Ferretería Núñez", ""]]),
                    mode="upsert").json()
    assert fourth["created"] == 1, fourth
    names = [c["name"] for c in all_clients(session, stack)]
    assert sorted(names) == sorted(["São Paulo Seguros Ltda.", "TALLERES PEREZ SA",
                                    "Ferretería Núñez", "Ferretería Núñez"])


def test_blank_cells_keep_what_an_upsert_matched_unless_asked_to_clear(stack, workspace):
    """A file of some columns, half filled (another system's export), must not erase
    what the clients already have; blank_cells=clear is the way to empty cells."""
    session = stack.session(workspace)
    client = session.post(f"{stack.url}/api/v1/clients", json={
        "name": "Óptica Güell, S.L.", "tax_id": "B58378431", "country": "ES",
        "email": "info@guell.es", "phone": "+34 934 123 456", "tags": ["vip"],
        "address": {"city": "Barcelona", "postal_code": "08001"}}).json()
    rows = [["Nombre", "NIF", "País", "Correo electrónico", "Teléfono", "Ciudad", "Etiquetas"],
            ["Óptica Güell, S.L.", "B58378431", "ES", "hola@guell.es", "", "", ""]]
    job = upload(session, stack, csv_bytes(rows), mode="upsert").json()
    assert (job["updated"], job["blank_cells"]) == (1, "keep"), job
    after = session.get(f"{stack.url}/api/v1/clients/{client['id']}").json()
    assert after["email"] == "hola@guell.es"
    assert (after["phone"], after["tags"]) == (client["phone"], ["vip"])
    assert after["address"]["city"] == "Barcelona" and after["address"]["postal_code"] == "08001"
    again = upload(session, stack, csv_bytes(rows), mode="upsert").json()
    assert again["unchanged"] == 1, again
    # asked to clear: the blank cells empty those fields (and the dry run says so first)
    dry = upload(session, stack, csv_bytes(rows), mode="upsert", blank_cells="clear",
                 dry_run=True).json()
    assert (dry["updated"], dry["blank_cells"]) == (1, "clear"), dry
    verdict = session.get(f"{stack.url}/api/v1/clients/imports/{dry['id']}/rows").json()
    assert {"phone", "tags"} <= set(verdict["items"][0]["changes"]), verdict
    cleared = upload(session, stack, csv_bytes(rows), mode="upsert", blank_cells="clear").json()
    assert cleared["updated"] == 1, cleared
    after = session.get(f"{stack.url}/api/v1/clients/{client['id']}").json()
    assert after["phone"] is None and after["tags"] == []
    assert after["address"].get("city") is None and after["email"] == "hola@guell.es"
    bad = upload(session, stack, csv_bytes(rows), mode="upsert", blank_cells="borrar")
    assert bad.status_code == 422 and bad.json()["errors"] == {
        "blank_cells": ["must be keep or clear"]}
