"""Other CRMs' exports (presets), joined and split columns, vCard cards and the size of
.xls/.ods sheets measured before they are read: no I/O."""
import base64
import io
import struct
import zipfile
import zlib

import pytest
import xlwt

from services.common.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from services.contacts import spreadsheets, vcards, workbooks
from services.contacts.client.vcards import vcard
from services.contacts.imports import presets
from services.contacts.schemas import validate_client
from services.contacts.spreadsheets import Limits, Table


def columns_of(header, **options):
    return presets.columns_for(Table("csv", header, None), **options)


def row(header, cells, **options):
    return spreadsheets.row_to_client(columns_of(header, **options), cells)


@pytest.mark.parametrize("preset, header", [
    ("hubspot", ["Record ID", "First Name", "Last Name", "Email", "Phone Number",
                 "Company Name", "Country/Region", "Lifecycle Stage", "Contact owner"]),
    ("hubspot", ["ID de registro", "Nombre", "Apellidos", "Correo", "Número de teléfono",
                 "Nombre de la empresa", "País/región", "Propietario del contacto"]),
    ("salesforce-accounts", ["Account Name", "Type", "Billing Street", "Billing City",
                             "Billing Zip/Postal Code", "Billing Country", "Account Owner"]),
    ("salesforce-accounts", ["Id", "Name", "Type", "BillingStreet", "BillingCity",
                             "BillingPostalCode", "BillingCountry", "Phone"]),
    ("salesforce-contacts", ["First Name", "Last Name", "Account Name", "Email",
                             "Mailing Street", "Mailing City", "Contact Owner"]),
    ("google-contacts", ["First Name", "Middle Name", "Last Name", "Labels",
                         "E-mail 1 - Label", "E-mail 1 - Value", "Phone 1 - Value"]),
    ("google-contacts", ["Name", "Given Name", "Family Name", "Group Membership",
                         "E-mail 1 - Type", "E-mail 1 - Value", "Address 1 - Formatted"]),
    ("outlook", ["First Name", "Middle Name", "Last Name", "Company", "Business Street",
                 "Business City", "E-mail Address", "Mobile Phone", "Categories"]),
    ("outlook", ["Nombre", "Segundo nombre", "Apellidos", "Compañía", "Calle del trabajo",
                 "Ciudad de trabajo", "Dirección de correo electrónico", "Categorías"]),
    ("outlook", ["Nome", "Segundo Nome", "Sobrenome", "Empresa", "Rua comercial",
                 "Cidade comercial", "Endereço de email", "Celular", "Categorias"]),
    ("odoo", ["Name", "Is a Company", "Street", "Street2", "Zip", "City", "Country",
              "Tax ID", "Email"]),
    ("odoo", ["id", "name", "is_company", "street", "street2", "zip", "city", "country_id",
              "vat"]),
    ("odoo", ["Nombre", "Es una empresa", "Calle", "Calle 2", "C.P.", "Ciudad", "País", "NIF"]),
    ("zoho", ["Record Id", "Contact Owner", "First Name", "Last Name", "Account Name",
              "Email", "Mailing Street", "Mailing Zip", "Tag"]),
    ("zoho", ["Record Id", "Account Owner", "Account Name", "Account Type", "Billing Street",
              "Billing Code", "Billing Country"]),
])
def test_each_crm_export_is_recognised_with_no_unknown_column(preset, header):
    columns = columns_of(header)
    assert columns.preset == preset and columns.unknown == []


@pytest.mark.parametrize("header", [
    spreadsheets.export_header(),
    ["Nombre del cliente", "NIF", "Correo electrónico", "Teléfono móvil", "País"],
    ["Name", "Email", "Phone", "Country", "Tags"],
])
def test_ordinary_spreadsheets_take_no_preset(header):
    assert columns_of(header).preset is None


def test_the_callers_know_the_same_presets_as_the_service():
    from services.contacts.client.spreadsheet import IMPORT_PRESETS

    assert presets.NAMES == IMPORT_PRESETS


def test_a_named_preset_wins_and_an_unknown_one_is_refused():
    columns = columns_of(["Name", "Type", "Phone"], preset="salesforce-accounts")
    assert columns.preset == "salesforce-accounts" and (1, "category") in columns.fields
    assert (1, "kind") in columns_of(["Name", "Type", "Phone"]).fields
    with pytest.raises(ValidationFailed) as refused:
        presets.check_preset("pipedrive")
    assert refused.value.problem_code == "unknown_preset"
    assert "hubspot" in refused.value.detail and "preset" in refused.value.errors


def test_the_users_mapping_wins_over_the_preset():
    header = ["First Name", "Last Name", "Email", "Contact owner", "Record ID"]
    columns = columns_of(header, mapping={"Contact owner": "notes"})
    assert (3, "notes") in columns.fields and columns.preset == "hubspot"


def test_name_parts_join_into_a_persons_name():
    data = row(["Nombre", "Apellidos", "Correo electrónico"], ["María", "García López", None])
    assert (data["name"], data["kind"]) == ("María García López", "person")
    data = row(["First name", "Middle name", "Last name"], ["Ana", None, "Wu"])
    assert data["name"] == "Ana Wu"
    data = row(["Nombre de pila", "Primer apellido", "Segundo apellido"],
               ["José", "Pérez", "Núñez"])
    assert data["name"] == "José Pérez Núñez"


def test_a_users_mapping_may_join_and_split_columns_too():
    mapping = {"Nom": "name.given", "Llinatges": "name.family", "Pis": "address.street_2",
               "On": "address.full", "Empresa?": "kind.is_company"}
    header = ["Nom", "Llinatges", "Carrer", "Pis", "On", "Empresa?"]
    data = row(header, ["Joana", "Mas Roig", "Carrer Gran 3", "1r 2a", None, "no"],
               mapping=mapping)
    assert (data["name"], data["kind"]) == ("Joana Mas Roig", "person")
    assert data["address"]["street"] == "Carrer Gran 3, 1r 2a"
    data = row(header, ["Joana", "Mas", None, None, "Carrer Gran 3, 08001 Barcelona", "sí"],
               mapping=mapping)
    assert data["kind"] == "company" and data["address"]["postal_code"] == "08001"
    with pytest.raises(ValidationFailed):
        columns_of(["A"], mapping={"A": "row.problem"})


def test_a_contact_that_is_only_a_company_takes_its_name():
    data = row(["First Name", "Last Name", "Company"], [None, None, "Acme SL"])
    assert (data["name"], data.get("kind")) == ("Acme SL", None)
    assert validate_client(data)["kind"] == "company"


def test_street_lines_and_line_breaks_join_with_commas():
    data = row(["Name", "Street", "Street 2"], ["Acme", "Calle Mayor 1\n\nPlanta 2", "Puerta B"])
    assert data["address"]["street"] == "Calle Mayor 1, Planta 2, Puerta B"


@pytest.mark.parametrize("text, expected", [
    ("Calle Mayor 1, 28013 Madrid, España",
     {"street": "Calle Mayor 1", "postal_code": "28013", "city": "Madrid", "country": "ES"}),
    ("Calle Mayor 1\n2º B\n28013 Madrid\nMadrid\nSpain",
     {"street": "Calle Mayor 1, 2º B", "postal_code": "28013", "city": "Madrid",
      "region": "Madrid", "country": "ES"}),
    ("1600 Amphitheatre Pkwy, Mountain View, CA 94043, USA",
     {"street": "1600 Amphitheatre Pkwy", "postal_code": "94043", "city": "Mountain View",
      "region": "CA", "country": "US"}),
    ("Av. Paulista, 1000 - Bela Vista, São Paulo - SP, 01310-100, Brasil",
     {"street": "Av. Paulista, 1000 - Bela Vista", "postal_code": "01310-100",
      "city": "São Paulo - SP", "country": "BR"}),
    ("10 Downing Street, London SW1A 2AA, UK",
     {"street": "10 Downing Street", "postal_code": "SW1A 2AA", "city": "London",
      "country": "GB"}),
    ("Rua Augusta 10, 1100-053 Lisboa",
     {"street": "Rua Augusta 10", "postal_code": "1100-053", "city": "Lisboa"}),
    ("Polígono Industrial, nave 4", {"street": "Polígono Industrial, nave 4"}),
])
def test_a_whole_address_splits_where_it_parses(text, expected):
    assert spreadsheets.split_address(text) == expected


def test_a_whole_address_fills_only_a_row_without_one():
    header = ["Name", "Address 1 - Formatted", "Address 1 - City", "E-mail 1 - Value"]
    data = row(header, ["Ana", "Calle Mayor 1, 08001 Barcelona", None, "a@b.es"])
    assert data["address"]["postal_code"] == "08001" and data["address"]["city"] == "Barcelona"
    data = row(header, ["Ana", "Calle Mayor 1, 08001 Barcelona", "Girona", "a@b.es"])
    assert data["address"] == {"city": "Girona"}


def test_crm_values_google_outlook_odoo():
    google = ["First Name", "Labels", "E-mail 1 - Value", "Phone 1 - Value"]
    data = row(google, ["Ana", "* myContacts ::: VIP ::: Norte", "a@b.es ::: c@d.es",
                        " ::: +34 600 000 000"])
    assert validate_client(data)["tags"] == ["VIP", "Norte"] and data["email"] == "a@b.es"
    assert data["phone"] == "+34 600 000 000"
    assert row(google, ["Ana", "* myContacts", None, None])["tags"] is None
    data = row(["First Name", "Last Name", "E-mail Address", "Gender"],
               ["Ana", "Wu", None, "Unspecified"])
    assert data["gender"] is None
    odoo = ["Name", "Is a Company", "Language", "country_id/id", "Street2", "Tax ID"]
    data = row(odoo, ["Acme", "Verdadero", "English (US)", "base.es", None, None])
    assert (data["kind"], data["language"], data["country"]) == ("company", "English", "ES")
    assert validate_client(data)["language"] == "en"
    assert row(odoo, ["Ana", "False", None, None, None, None])["kind"] == "person"


# -- vCard -------------------------------------------------------------------------------

def png(width=2, height=2):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def cells_of(text):
    return dict(zip(vcards.VCARD_HEADER, vcards.parse_card(text)))


def test_our_vcard_reads_back_as_the_same_client():
    record = {"id": "6f1c5d2e-9a7b-4c3d-8e2f-1a2b3c4d5e6f", "name": "Peña, S.L.",
              "kind": "company", "tax_id": "B58378431", "email": "a@pena.example",
              "phone": "+34612345678", "country": "ES", "language": "es", "gender": None,
              "category": "Mayorista", "tags": ["vip", "x,y"],
              "address": {"street": "Calle Mayor 1; 2º", "city": "Madrid",
                          "postal_code": "28013", "region": None, "country": "ES"},
              "company": {"name": "Grupo Peña", "website": "https://pena.example",
                          "email": None, "phone": "+34911111111"},
              "notes": "uno\ndos, tres; cuatro"}
    cells = cells_of(vcard(record, ("image/png", png())))
    assert cells["Photo"].data == png()
    columns = presets.columns_for(Table("vcf", vcards.VCARD_HEADER, None))
    data = spreadsheets.row_to_client(columns, list(cells.values()))
    assert data.pop("photo").data == png() and data.pop("id") == record["id"]
    loaded = validate_client(data)
    for field in ("name", "kind", "tax_id", "email", "phone", "country", "language",
                  "category", "notes"):
        assert loaded[field] == record[field], field
    assert loaded["tags"] == ["vip", "x,y"]
    assert loaded["address"]["street"] == "Calle Mayor 1; 2º"
    assert loaded["company"]["phone"] == "+34911111111"


def test_vcard_4_properties_and_company_cards():
    cells = cells_of("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Åsa Öberg\r\nN:Öberg;Åsa;;;\r\n"
                     "GENDER:F\r\nLANG:sv\r\nEMAIL;TYPE=work:w@x.se\r\nEMAIL;PREF=1:asa@x.se\r\n"
                     "TEL;VALUE=uri:tel:+46701234567\r\nEND:VCARD\r\n")
    assert (cells["Name"], cells["Kind"], cells["Gender"], cells["Language"]) == (
        "Åsa Öberg", "person", "female", "sv")
    assert (cells["Email"], cells["Phone"]) == ("asa@x.se", "+46701234567")
    org = cells_of("BEGIN:VCARD\r\nVERSION:3.0\r\nN:;;;;\r\nFN:Fjord AS\r\nORG:Fjord AS\r\n"
                   "END:VCARD\r\n")
    assert (org["Kind"], org["Company name"]) == ("company", "Fjord AS")


def test_vcard_photos_good_bad_and_remote():
    assert vcards.photo_content(vcards.Photo(data=png())) == ("image/png", png())
    uri = "data:image/png;base64," + base64.b64encode(png()).decode()
    assert vcards.photo_content(uri)[1] == png()
    assert vcards.photo_content(vcards.Photo(uri="https://example.com/a.jpg")) is None
    for bad in (vcards.Photo(data=b"GIF89a...."), "!!not base64!!",
                vcards.Photo(data=b"\x89PNG\r\n\x1a\n" + b"\x00" * (3 * 1024 * 1024))):
        with pytest.raises(vcards.PhotoProblem):
            vcards.photo_content(bad)


def test_a_file_of_cards_numbers_its_contacts_as_rows():
    text = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Uno\r\nEND:VCARD\r\n"
            "junk between cards\r\n"
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Dos\r\n"  # no END: it stops at the next
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Tres\r\nEND:VCARD\r\n")
    table = spreadsheets.open_table(text.encode("utf-16"), "contacts.vcf")
    rows = list(table.rows())
    assert [(number, cells[0]) for number, cells in rows] == [
        (2, "Uno"), (3, "Dos"), (4, "Tres")]
    assert rows[1][1][vcards.PROBLEM_COLUMN] is not None
    with pytest.raises(PayloadTooLarge):
        spreadsheets.open_table(text.encode(), "c.vcf", Limits(rows=2))
    with pytest.raises(ValidationFailed):
        spreadsheets.open_table(b"no cards here", "c.vcf")


# -- .xls and .ods -------------------------------------------------------------------------

def xls(cells):
    book = xlwt.Workbook()
    sheet = book.add_sheet("S")
    for (r, c), value in cells.items():
        sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xls_sheet_is_measured_before_it_is_read():
    small = xls({(0, 0): "Name", (0, 1): "NIF", (1, 0): "Acme", (1, 1): "B58378431",
                 (3, 0): "Beta"})
    assert workbooks.xls_extent(workbooks.workbook_stream(small)) == (4, 2)
    table = spreadsheets.open_table(small, "c.xls")
    assert (table.format, table.header) == ("xls", ["Name", "NIF"])
    assert list(table.rows()) == [(2, ["Acme", "B58378431"]), (4, ["Beta", None])]
    corners = xls({(0, 0): "Name", (65535, 255): "x"})  # a few KiB, a GiB as a grid
    with pytest.raises(PayloadTooLarge):
        spreadsheets.open_table(corners, "c.xls")
    with pytest.raises(PayloadTooLarge):
        spreadsheets.open_table(xls({(0, 0): "Name", (5, 0): "x"}), "c.xls", Limits(rows=3))
    with pytest.raises(UnsupportedMediaType):
        spreadsheets.open_table(workbooks.OLE_MAGIC + b"\x00" * 2000, "c.xls")


def ods(rows_xml):
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
               '<office:body><office:spreadsheet><table:table table:name="A">'
               f"{rows_xml}</table:table></office:spreadsheet></office:body>"
               "</office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry '
                'manifest:full-path="/" manifest:media-type='
                '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
                'manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def text_cell(value, repeat=1):
    return (f'<table:table-cell table:number-columns-repeated="{repeat}" '
            f'office:value-type="string"><text:p>{value}</text:p></table:table-cell>')


def test_an_ods_sheet_is_measured_with_its_repeats():
    trailing = ('<table:table-row table:number-rows-repeated="1048570">'
                '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>')
    content = ods(f"<table:table-row>{text_cell('Nome')}{text_cell('NIF')}</table:table-row>"
                  f"<table:table-row>{text_cell('Ação')}<table:table-cell/></table:table-row>"
                  + trailing)
    table = spreadsheets.open_table(content, "c.ods")
    assert (table.format, table.header, list(table.rows())) == (
        "ods", ["Nome", "NIF"], [(2, ["Ação", None])])
    for bomb, limits in [
            (f'<table:table-row table:number-rows-repeated="500">{text_cell("x")}'
             "</table:table-row>", Limits(rows=100)),
            (f"<table:table-row>{text_cell('x', 5000)}</table:table-row>", Limits()),
    ]:
        with pytest.raises(PayloadTooLarge):
            spreadsheets.open_table(ods(f"<table:table-row>{text_cell('Name')}"
                                        f"</table:table-row>{bomb}"), "c.ods", limits)
    with pytest.raises(UnsupportedMediaType):
        spreadsheets.open_table(b"PK\x03\x04 not a zip", "c.ods")
