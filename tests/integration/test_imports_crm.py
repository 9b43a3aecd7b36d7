"""Imports from other CRMs over HTTP: each CRM's export (built here, shaped as the CRM
writes it: headers in its languages, BOMs, UTF-16, quoted multiline addresses), .xls
and .ods workbooks, vCard files with photos, the vCard export read back, and bad files
answered with a problem, never a 500."""
import base64
import csv
import io
import struct
import uuid
import zipfile
import zlib

import pytest
import xlwt

from tests.integration.conftest import Stack, running, sqlite_urls


class CrmStack(Stack):
    def __init__(self, amqp_uri, database_urls, files_dir):
        super().__init__(amqp_uri, database_urls)
        self.files_dir = files_dir

    def config(self, service):
        return {**super().config(service), "FILES_DIR": str(self.files_dir),
                "IMPORT_BATCH_SIZE": 3}


@pytest.fixture(scope="module")
def stack(vhosts, tmp_path_factory):
    directory = tmp_path_factory.mktemp("imports-crm")
    with running(CrmStack(vhosts.create(), sqlite_urls(directory), directory / "blobs")) as stack:
        yield stack


@pytest.fixture
def session(stack):
    return stack.session(f"crm-{uuid.uuid4().hex[:10]}")


def upload(session, stack, content, name, **fields):
    data = {key: str(value).lower() if isinstance(value, bool) else value
            for key, value in fields.items()}
    return session.post(f"{stack.url}/api/v1/clients/imports?wait=true",
                        files={"file": (name, content)}, data=data, timeout=60)


def clients_of(session, stack):
    page = session.get(f"{stack.url}/api/v1/clients", params={"limit": 500},
                       timeout=10).json()
    return {client["name"]: client for client in page["items"]}


def errors_by_row(job):
    found = {}
    for error in job["errors"]:
        found.setdefault(error["row"], []).append(error["field"])
    return found


def csv_bytes(rows, encoding="utf-8-sig", delimiter=","):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def png(width=2, height=2):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def ods_bytes(rows, more_rows=""):
    """A minimal OpenDocument spreadsheet (what LibreOffice saves, less its styles),
    with the million repeated empty rows LibreOffice writes after the data."""
    def cell(value):
        if value is None:
            return "<table:table-cell/>"
        if isinstance(value, (int, float)):
            return (f'<table:table-cell office:value-type="float" office:value="{value}">'
                    f"<text:p>{value}</text:p></table:table-cell>")
        lines = "".join(f"<text:p>{line}</text:p>" for line in str(value).split("\n"))
        return f'<table:table-cell office:value-type="string">{lines}</table:table-cell>'
    body = "".join("<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>"
                   for row in rows)
    body += more_rows
    body += ('<table:table-row table:number-rows-repeated="1048570">'
             '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>')
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
               'office:version="1.2"><office:body><office:spreadsheet>'
               f'<table:table table:name="Contactos">{body}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type='
                '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
                'manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"),
                         "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def xls_bytes(rows):
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Accounts")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- each CRM's export -------------------------------------------------------------------

def test_hubspot_contacts_export(stack, session):
    content = csv_bytes([
        ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Company Name",
         "Street Address", "City", "State/Region", "Postal Code", "Country/Region",
         "Lifecycle Stage", "Contact owner", "Create Date"],
        ["51", "María José", "Núñez Peña", "mj@nunez.example", "+34 612 345 678", "Núñez SL",
         "Calle Mayor 1", "Madrid", "Madrid", "28013", "Spain", "Customer", "Ana Owner",
         "2024-01-02 10:00"],
        ["52", "", "", "", "", "Talleres Ruiz SA", "", "Sevilla", "", "41001", "Spain",
         "Lead", "", ""],
        ["53", "Bad", "Email", "not-an-email", "", "", "", "", "", "", "", "", "", ""],
    ])
    dry = upload(session, stack, content, "hubspot-contacts.csv", dry_run=True).json()
    assert dry["preset"] == "hubspot" and dry["status"] == "done"
    assert (dry["created"], dry["failed"]) == (2, 1) and errors_by_row(dry) == {4: ["email"]}
    assert set(dry["ignored_columns"]) == {"Record ID", "Contact owner", "Create Date"}
    assert dry["unknown_columns"] == [] and clients_of(session, stack) == {}

    job = upload(session, stack, content, "hubspot-contacts.csv").json()
    assert (job["preset"], job["created"], job["failed"]) == ("hubspot", 2, 1)
    clients = clients_of(session, stack)
    person = clients["María José Núñez Peña"]
    assert person["kind"] == "person" and person["company"]["name"] == "Núñez SL"
    assert person["country"] == "ES" and person["category"] == "Customer"
    assert person["address"] == {"street": "Calle Mayor 1", "city": "Madrid",
                                 "postal_code": "28013", "region": "Madrid", "country": None}
    company = clients["Talleres Ruiz SA"]
    assert company["kind"] == "company" and company["address"]["city"] == "Sevilla"
    errors = session.get(f"{stack.url}/api/v1/clients/imports/{job['id']}/errors.csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Record ID", "First Name", "Last Name"] and rows[0][-1] == "error"
    assert rows[1][1:3] == ["Bad", "Email"] and rows[1][-1].startswith("row 4: email")
    again = upload(session, stack, content, "hubspot-contacts.csv", mode="upsert").json()
    assert (again["unchanged"], again["created"], again["updated"]) == (2, 0, 0), again


def test_salesforce_accounts_with_multiline_billing_street(stack, session):
    content = csv_bytes([
        ["Account Name", "Type", "Billing Street", "Billing City", "Billing State/Province",
         "Billing Zip/Postal Code", "Billing Country", "Phone", "Website", "Account Owner",
         "Industry"],
        ["Construcciones Peña S.L.", "Customer - Direct", "Calle Mayor 1\nPlanta 2\n",
         "Barcelona", "Barcelona", "8001", "ES", "934 000 000", "pena.example",
         "Joan Owner", "Construction"],
        ["Acme Inc", "Prospect", "1 Market St\nSuite 300", "San Francisco", "CA", "94105",
         "US", "not a phone", "", "", ""],
    ], encoding="utf-8")
    job = upload(session, stack, content, "report1700000000000.csv").json()
    assert job["preset"] == "salesforce-accounts"
    assert (job["created"], job["failed"]) == (1, 1) and errors_by_row(job) == {3: ["phone"]}
    pena = clients_of(session, stack)["Construcciones Peña S.L."]
    assert pena["kind"] == "company" and pena["category"] == "Customer - Direct"
    assert pena["address"]["street"] == "Calle Mayor 1, Planta 2"
    assert pena["address"]["postal_code"] == "08001" and pena["phone"] == "+34934000000"
    assert pena["company"]["website"] == "https://pena.example"


def test_salesforce_contacts_in_spanish_chosen_by_name(stack, session):
    content = csv_bytes([
        ["Nombre", "Apellidos", "Nombre de la cuenta", "Correo electrónico", "Teléfono",
         "Calle postal", "Ciudad postal", "Código postal", "País postal"],
        ["Lucía", "Fernández", "Deco SA", "lucia@deco.example", "+34 699 111 222",
         "Gran Vía 2", "Madrid", "28013", "España"],
    ], encoding="utf-8")
    job = upload(session, stack, content, "contactos.csv", preset="salesforce-contacts").json()
    assert (job["preset"], job["created"], job["failed"]) == ("salesforce-contacts", 1, 0)
    lucia = clients_of(session, stack)["Lucía Fernández"]
    assert lucia["company"]["name"] == "Deco SA" and lucia["address"]["country"] == "ES"
    assert lucia["kind"] == "person" and lucia["address"]["street"] == "Gran Vía 2"


def test_google_contacts_csv_with_labels_several_values_and_a_formatted_address(
        stack, session):
    content = csv_bytes([
        ["First Name", "Middle Name", "Last Name", "Organization Name", "Birthday", "Notes",
         "Labels", "E-mail 1 - Label", "E-mail 1 - Value", "Phone 1 - Label",
         "Phone 1 - Value", "Address 1 - Label", "Address 1 - Formatted"],
        ["João", "", "Gonçalves", "Ação Lda", "", "Cliente desde 2019", "* myContacts ::: VIP",
         "* Work", "joao@acao.example ::: jg@home.example", "Mobile",
         "+351 912 345 678 ::: +351 213 000 000", "Work",
         "Rua Augusta 10\n1100-053 Lisboa\nPortugal"],
        ["", "", "", "Só Empresa SA", "", "", "* myContacts", "", "", "", "", "", ""],
    ])
    job = upload(session, stack, content, "contacts.csv").json()
    assert (job["preset"], job["created"], job["failed"]) == ("google-contacts", 2, 0)
    clients = clients_of(session, stack)
    joao = clients["João Gonçalves"]
    assert joao["email"] == "joao@acao.example" and joao["phone"] == "+351912345678"
    assert joao["tags"] == ["VIP"] and joao["notes"] == "Cliente desde 2019"
    assert joao["address"] == {"street": "Rua Augusta 10", "postal_code": "1100-053",
                               "city": "Lisboa", "country": "PT", "region": None}
    assert clients["Só Empresa SA"]["kind"] == "company"


def test_outlook_spanish_export_in_utf16(stack, session):
    header = ["Nombre", "Segundo nombre", "Apellidos", "Tratamiento", "Compañía",
              "Calle del trabajo", "Calle del trabajo 2", "Ciudad de trabajo",
              "Provincia o estado de trabajo", "Código postal del trabajo",
              "País o región del trabajo", "Teléfono del trabajo", "Teléfono móvil",
              "Dirección de correo electrónico", "Sexo", "Categorías", "Notas"]
    content = csv_bytes([
        header,
        ["Íñigo", "", "Zubizarreta", "Sr.", "Ederra SL", "Kalea 3", "2º izq.", "Bilbao",
         "Bizkaia", "48001", "España", "", "+34 688 000 111", "inigo@ederra.example",
         "No especificado", "Proveedores;Norte", "Llamar\nlos lunes"],
        ["Ana", "", "Sin correo", "", "", "", "", "", "", "", "España", "123", "", "mal@",
         "", "", ""],
    ], encoding="utf-16")
    job = upload(session, stack, content, "contactos.CSV").json()
    assert job["preset"] == "outlook" and (job["created"], job["failed"]) == (1, 1)
    assert set(errors_by_row(job)[3]) == {"email", "phone"}
    inigo = clients_of(session, stack)["Íñigo Zubizarreta"]
    assert inigo["address"]["street"] == "Kalea 3, 2º izq." and inigo["gender"] is None
    assert inigo["tags"] == ["Proveedores", "Norte"] and inigo["notes"] == "Llamar\nlos lunes"
    assert inigo["company"]["name"] == "Ederra SL" and inigo["phone"] == "+34688000111"


def test_odoo_spanish_labels_in_an_ods_file(stack, session):
    content = ods_bytes([
        ["Nombre", "Es una empresa", "Calle", "Calle 2", "C.P.", "Ciudad", "País", "NIF",
         "Correo electrónico", "Idioma", "Etiquetas", "Empresa relacionada"],
        ["Cal Pep SL", "Verdadero", "Carrer Gran 3", None, 8001, "Barcelona", "España",
         "B58378431", "hola@calpep.example", "Catalan / Català", "Restauración", None],
        ["Pere Puig", "Falso", None, None, None, None, "España", None, "pere@calpep.example",
         "Spanish (ES) / Español (ES)", None, "Cal Pep SL"],
        ["Mal NIF SL", "Verdadero", None, None, None, None, "España", "B58378432", None, None,
         None, None],
    ])
    job = upload(session, stack, content, "res.partner.ods").json()
    assert (job["preset"], job["format"]) == ("odoo", "ods")
    assert (job["created"], job["failed"]) == (2, 1) and errors_by_row(job) == {4: ["tax_id"]}
    clients = clients_of(session, stack)
    assert clients["Cal Pep SL"]["kind"] == "company"
    assert clients["Cal Pep SL"]["address"]["postal_code"] == "08001"
    assert clients["Cal Pep SL"]["language"] == "ca"
    pere = clients["Pere Puig"]
    assert pere["kind"] == "person" and pere["language"] == "es"
    assert pere["company"]["name"] == "Cal Pep SL"


def test_zoho_accounts_in_an_xls_file(stack, session):
    content = xls_bytes([
        ["Record Id", "Account Owner", "Account Name", "Phone", "Website", "Account Type",
         "Billing Street", "Billing City", "Billing State", "Billing Code", "Billing Country",
         "Description"],
        ["zcrm_4876876000000123456", "Owner", "Distribuciones Gómez SL", "912345678",
         "https://gomez.example", "Customer", "Calle Real 5", "Madrid", "Madrid", 28004,
         "Spain", "Cliente preferente"],
        ["zcrm_4876876000000123457", "Owner", "", "", "", "", "", "", "", "", "", ""],
    ])
    job = upload(session, stack, content, "Accounts_2024.xls").json()
    assert (job["preset"], job["format"]) == ("zoho", "xls")
    assert (job["created"], job["failed"]) == (1, 1) and errors_by_row(job) == {3: ["name"]}
    gomez = clients_of(session, stack)["Distribuciones Gómez SL"]
    assert gomez["phone"] == "+34912345678" and gomez["category"] == "Customer"
    assert gomez["address"]["postal_code"] == "28004" and gomez["notes"] == "Cliente preferente"


# -- vCard ---------------------------------------------------------------------------------

def _fold(line):
    """A vCard content line folded at 75 octets, as address books write them."""
    return "\r\n ".join(line[i:i + 74] for i in range(0, len(line), 74))


def vcf_file(photo):
    encoded = base64.b64encode(photo).decode("ascii")
    return "\r\n".join([
        "BEGIN:VCARD", "VERSION:3.0", "N:Sørensen;Åse;;;", "FN:Åse Sørensen",
        "ORG:Fjord AS", "EMAIL;TYPE=INTERNET,pref:ase@fjord.example",
        "TEL;TYPE=CELL:+47 912 34 567", "ADR;TYPE=WORK:;;Karl Johans gate 1;Oslo;;0154;Norway",
        _fold(f"PHOTO;ENCODING=b;TYPE=PNG:{encoded}"), "CATEGORIES:Nordics,VIP",
        "END:VCARD",
        "BEGIN:VCARD", "VERSION:4.0", "FN:株式会社テスト", "KIND:org", "LANG:ja",
        "EMAIL:info@test.example",
        _fold(f"PHOTO:data:image/png;base64,{encoded}"), "END:VCARD",
        "BEGIN:VCARD", "VERSION:3.0", "FN:Foto Rota", "EMAIL:rota@example.com",
        "PHOTO;ENCODING=b;TYPE=JPEG:" + base64.b64encode(b"not an image at all").decode(),
        "END:VCARD",
        "BEGIN:VCARD", "VERSION:3.0", "FN:Sin Email Válido", "EMAIL:nope", "END:VCARD", "",
    ]).encode("utf-8")


def test_a_vcard_file_with_several_contacts_photos_and_bad_rows(stack, session):
    photo = png(3, 3)
    job = upload(session, stack, vcf_file(photo), "contacts.vcf").json()
    assert (job["format"], job["preset"], job["total"]) == ("vcf", "vcard", 4)
    assert (job["created"], job["failed"]) == (2, 2)
    assert errors_by_row(job) == {4: ["photo"], 5: ["email"]}
    clients = clients_of(session, stack)
    ase = clients["Åse Sørensen"]
    assert ase["kind"] == "person" and ase["company"]["name"] == "Fjord AS"
    assert ase["tags"] == ["Nordics", "VIP"] and ase["address"]["city"] == "Oslo"
    assert ase["photo"] == {"content_type": "image/png", "size": len(photo)}
    stored = session.get(f"{stack.url}/api/v1/clients/{ase['id']}/photo")
    assert stored.status_code == 200 and stored.content == photo
    company = clients["株式会社テスト"]
    assert company["kind"] == "company" and company["language"] == "ja"
    assert company["photo"]["size"] == len(photo)
    # errors.csv: the failed contacts as rows (without their photos), ready to fix.
    errors = session.get(f"{stack.url}/api/v1/clients/imports/{job['id']}/errors.csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Name" and rows[0][-1] == "error"
    assert [(r[0], r[-1].split(":")[0]) for r in rows[1:]] == [
        ("Foto Rota", "row 4"), ("Sin Email Válido", "row 5")]
    assert "photo: the photo is not a PNG, JPEG or WebP image" in rows[1][-1]


def test_the_vcard_export_imports_back_as_the_same_clients(stack, session):
    photo = png(4, 2)
    created = session.post(f"{stack.url}/api/v1/clients", json={
        "name": "Peña & Hijos, S.L.", "kind": "company", "tax_id": "B58378431",
        "country": "ES", "email": "info@pena.example", "phone": "+34612345678",
        "language": "es", "category": "Mayorista", "tags": ["vip", "norte; sur"[:4]],
        "address": {"street": "Calle Mayor 1; 2º", "city": "Madrid", "postal_code": "28013",
                    "region": "Madrid", "country": "ES"},
        "company": {"name": "Grupo Peña", "website": "https://pena.example",
                    "email": "grupo@pena.example", "phone": "+34911111111"},
        "notes": "Primera línea\nSegunda, con coma; y punto y coma"}).json()
    session.put(f"{stack.url}/api/v1/clients/{created['id']}/photo", data=photo,
                headers={"Content-Type": "image/png"})
    session.post(f"{stack.url}/api/v1/clients", json={"name": "Zoë Ødegård", "kind": "person",
                                                       "gender": "female"})
    exported = session.get(f"{stack.url}/api/v1/clients/export", params={"format": "vcf"})
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/vcard")
    assert exported.content.count(b"BEGIN:VCARD") == 2
    before = clients_of(session, stack)

    again = upload(session, stack, exported.content, "clients.vcf", mode="upsert").json()
    assert (again["unchanged"], again["created"], again["failed"]) == (2, 0, 0), again

    other = stack.session(f"crm-{uuid.uuid4().hex[:10]}")
    copy = upload(other, stack, exported.content, "clients.vcf").json()
    assert (copy["created"], copy["failed"]) == (2, 0), copy
    copied = clients_of(other, stack)
    fields = ("kind", "tax_id", "email", "phone", "country", "language", "gender", "category",
              "tags", "address", "company", "notes", "photo")
    for name, client in before.items():
        assert {f: copied[name][f] for f in fields} == {f: client[f] for f in fields}


# -- bad files and options ----------------------------------------------------------------

@pytest.mark.parametrize("name, content, status, code", [
    ("clients.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000, 415,
     "unsupported_media_type"),
    ("clients.xls", b"\x01\x02 not a workbook \x03\x04", 415, "unsupported_media_type"),
    ("clients.ods", b"PK\x03\x04 broken zip", 415, "unsupported_media_type"),
    ("contacts.vcf", b"", 422, "empty_file"),
    ("contacts.vcf", b"Just some text\r\n", 422, "empty_file"),
])
def test_bad_files_answer_a_problem(stack, session, name, content, status, code):
    answer = upload(session, stack, content, name)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["code"] == code


def test_a_truncated_vcard_is_its_row_error(stack, session):
    job = upload(session, stack, b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Cortada\r\nEMAIL:c@",
                 "contacts.vcf").json()
    assert (job["status"], job["failed"], job["created"]) == ("done", 1, 0)
    assert job["errors"][0]["row"] == 2 and "could not be read" in job["errors"][0]["message"]


def test_an_unknown_preset_is_a_problem_with_a_code(stack, session):
    answer = upload(session, stack, b"Name\r\nAcme\r\n", "c.csv", preset="pipedrive")
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "unknown_preset" and "hubspot" in body["detail"]


def test_a_huge_ods_sheet_is_refused_before_it_is_read(stack, session):
    content = ods_bytes([["Name"]], '<table:table-row table:number-rows-repeated="900000">'
                        '<table:table-cell office:value-type="string"><text:p>x</text:p>'
                        "</table:table-cell></table:table-row>")
    assert len(content) < 2000
    answer = upload(session, stack, content, "bomb.ods")
    assert answer.status_code == 413 and answer.json()["code"]


def test_command_line_preset_and_vcard_export(stack, session, tmp_path):
    from clientfolio import clients_cli
    from clientfolio.cli import build_parser

    workspace = f"crm-{uuid.uuid4().hex[:10]}"
    outlook = tmp_path / "contacts.csv"
    outlook.write_bytes(csv_bytes([["First Name", "Last Name", "Company", "E-mail Address"],
                                   ["Ana", "Ruiz", "Ruiz SL", "ana@ruiz.example"]],
                                  encoding="cp1252"))
    config = {"AMQP_URI": stack.amqp_uri}

    def run(*argv):
        out = io.StringIO()
        args = build_parser().parse_args(["clients", *argv, "--workspace", workspace])
        command = clients_cli.cmd_import if argv[0] == "import" else clients_cli.cmd_export
        return command(args, config, out=out), out.getvalue()

    code, said = run("import", str(outlook), "--preset", "lotus")
    assert code == 2 and "'lotus' is not an import preset" in said and "Traceback" not in said
    code, said = run("import", str(outlook), "--preset", "outlook")
    assert code == 0 and "read as the outlook preset" in said and "1 created" in said
    target = tmp_path / "clients.vcf"
    code, said = run("export", str(target))
    assert code == 0 and target.read_bytes().count(b"BEGIN:VCARD") == 1
    code, said = run("import", str(target), "--mode", "upsert")
    assert code == 0 and "0 created, 0 updated, 1 unchanged, 0 failed" in said
