"""Reading and writing client spreadsheets: encodings, delimiters, headers in four
languages, formula neutralisation, and an export whose memory stays flat."""
import csv
import io
import pathlib
import tracemalloc

import pytest
from openpyxl import Workbook, load_workbook

from services.common.errors import UnsupportedMediaType, ValidationFailed
from services.contacts import exports, spreadsheets
from services.contacts.schemas import validate_client


def _csv(rows, delimiter=",", encoding="utf-8"):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_encodings_and_delimiters(encoding, delimiter):
    content = _csv([["Nombre", "Correo electrónico", "Notas"],
                    ["Peña, S.L.", "a@b.es", "dos\nlíneas; y comas, \"comillas\""],
                    ["", "", ""],
                    ["Núñez", "", ""]], delimiter, encoding)
    table = spreadsheets.open_table(content)
    assert table.format == "csv" and table.delimiter == delimiter
    assert table.header == ["Nombre", "Correo electrónico", "Notas"]
    rows = list(table.rows())
    assert [n for n, _ in rows] == [2, 4]  # blank row 3 skipped, numbering kept
    assert rows[0][1] == ["Peña, S.L.", "a@b.es", "dos\nlíneas; y comas, \"comillas\""]


@pytest.mark.parametrize("header,path", [
    ("Nome legal", "name"), ("Número de identificação fiscal", "tax_id"),
    ("Nombre del cliente", "name"), ("Correo electrónico", "email"), ("País", "country"),
    ("Teléfono móvil", "phone"), ("Categoría de cliente", "category"), ("NIF", "tax_id"),
    ("Adreça", "address.street"), ("Fecha añadida", "created_at"), ("Género", "gender"),
    ("Idioma", "language"), ("Sitio web", "company.website"), ("E-MAIL:", "email"),
    ("tax_id", "tax_id"), ("Telemóvel", "phone"), ("Codi postal", "address.postal_code"),
    ("Ciutat", "address.city"), ("Razão social", "name"), ("Correu electrònic", "email"),
    ("Etiquetes", "tags"), ("Address country", "address.country"),
    # the seeds' own labels
    ("Número de teléfono móvil", "phone"), ("Sitio web oficial", "company.website"),
    ("Nombre de la empresa", "company.name"), ("Endereço", "address.street"),
    ("Foto de perfil", "photo"), ("Nom legal", "name"),
    # and what Portuguese, Brazilian and Latin American exports call them
    ("Telefone celular", "phone"), ("Nº contribuinte", "tax_id"),
    ("N.º de contribuinte", "tax_id"), ("CEP", "address.postal_code"),
    ("Localidade", "address.city"), ("NIF/NIPC", "tax_id"), ("RUC", "tax_id"),
    ("Denominación social", "name"), ("Telèfon mòbil", "phone"), ("Pàgina web", "company.website"),
])
def test_headers_in_four_languages(header, path):
    assert spreadsheets.HEADERS[spreadsheets.header_key(header)] == path


def test_a_photo_column_is_ignored_not_unknown():
    columns = spreadsheets.match_headers(["Nombre del cliente", "Foto de perfil", "Zodiaco"])
    assert columns.fields == [(0, "name")]
    assert (columns.ignored, columns.unknown) == (["Foto de perfil"], ["Zodiaco"])


def test_every_label_the_import_guide_lists_is_recognised():
    """docs/imports.md tells users which column names work: each of them must."""
    guide = pathlib.Path(__file__).parents[2] / "docs" / "imports.md"
    section = guide.read_text(encoding="utf-8").split("### Recognised column names")[1]
    rows = [line for line in section.split("\n\n")[2].splitlines()[2:] if line.startswith("|")]
    assert len(rows) > 20
    missing = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        field = cells[0].split(" ")[0]
        path = {"(not": "created_at", "id": "id"}.get(field, field)
        for label in ", ".join(cells[1:]).split(", "):
            if label and spreadsheets.HEADERS.get(spreadsheets.header_key(label)) != path:
                missing.append((label, path))
    assert not missing


def test_every_export_header_is_recognised():
    columns = spreadsheets.match_headers(spreadsheets.export_header())
    assert not columns.unknown and columns.ignored == ["Date added"]
    assert [p for _, p in columns.fields] == [p for _, p in spreadsheets.EXPORT_COLUMNS
                                              if p != "created_at"]


def test_mapping_overrides_and_unknown_columns():
    columns = spreadsheets.match_headers(["Razón social", "Ciudad", "Foo", "Email"],
                                         {"Razón social": "name", "Ciudad": "address.city"})
    assert columns.fields == [(0, "name"), (1, "address.city"), (3, "email")]
    assert columns.unknown == ["Foo"]
    with pytest.raises(ValidationFailed) as bad:
        spreadsheets.match_headers(["A"], {"A": "nonsense"})
    assert "mapping.A" in bad.value.errors


def test_no_header_empty_and_binary_files():
    with pytest.raises(ValidationFailed) as none:
        spreadsheets.match_headers(["foo", "bar"])
    assert none.value.detail.startswith("We could not find a header row")
    with pytest.raises(ValidationFailed) as nameless:
        spreadsheets.match_headers(["Email"])
    assert "name" in nameless.value.detail
    with pytest.raises(ValidationFailed):
        spreadsheets.open_table(b"\xef\xbb\xbf\r\n  ")
    with pytest.raises(UnsupportedMediaType):
        spreadsheets.open_table(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(UnsupportedMediaType):
        spreadsheets.open_table(b"PK\x03\x04not really a zip")


@pytest.mark.parametrize("name, content, content_type", [
    ("clients.pdf", b"Name,Email\r\nAna,ana@example.com\r\n", None),
    ("clients.json", b'[{"name": "Ana"}]', "application/json"),
    ("clients", b'[{"name": "Ana"}]', "application/json"),
    ("scan.csv", b"Name\r\nAna\r\n", "image/png"),
    ("report.csv", b"%PDF-1.7\n1 0 obj", "text/csv"),
    (None, b"\xef\xbb\xbf<!DOCTYPE html><table><tr><td>Name", None),
    ("notes.rtf", b"{\\rtf1\\ansi Name", None),
])
def test_files_that_are_plainly_not_spreadsheets_are_refused(name, content, content_type):
    with pytest.raises(UnsupportedMediaType) as refused:
        spreadsheets.check_type(name, content, content_type)
    assert refused.value.detail.endswith("or an Excel workbook (.xlsx).")
    assert (name or "This file") in refused.value.detail
    if name is None:  # what the service checks again without a name
        with pytest.raises(UnsupportedMediaType):
            spreadsheets.open_table(content)


@pytest.mark.parametrize("name, label", [("Clientes 2019.XLS", "Excel 97-2003 (.xls)"),
                                         ("clients.ods", "OpenDocument (.ods)")])
def test_spreadsheets_in_other_formats_say_how_to_convert_them(name, label):
    with pytest.raises(UnsupportedMediaType) as refused:
        spreadsheets.check_type(name, b"\xd0\xcf\x11\xe0", "application/vnd.ms-excel")
    assert f"{name} is an {label} file" in refused.value.detail
    assert "save it as an Excel workbook (.xlsx) or as CSV" in refused.value.detail


@pytest.mark.parametrize("name, content_type", [
    ("clients.csv", "application/vnd.ms-excel"),  # Excel on Windows declares CSV so
    ("clients.csv", "application/octet-stream"), ("Clients.CSV", "text/csv"),
    ("export.txt", "text/plain"), ("clients.tsv", None), ("clients", None), (None, None),
    ("clients.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
])
def test_spreadsheet_names_and_declared_types_pass(name, content_type):
    assert spreadsheets.check_type(name, "Nom;NIF\r\nCal Pep;B58378431\r\n".encode(),
                                   content_type) is None


def test_xlsx_reading():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Nom", "NIF", "Codi postal", "Data afegida"])
    sheet.append(["Cal Pep", "B58378431", 8001, "2020-01-01"])
    sheet.append([None, None, None, None])
    sheet.append(["'+Plus", None, None, None])
    out = io.BytesIO()
    workbook.save(out)
    table = spreadsheets.open_table(out.getvalue())
    assert table.format == "xlsx" and table.header[0] == "Nom"
    columns = spreadsheets.match_headers(table.header)
    rows = [(n, spreadsheets.row_to_client(columns, c)) for n, c in table.rows()]
    assert rows == [(2, {"name": "Cal Pep", "tax_id": "B58378431",
                         "address": {"postal_code": "8001"}}),
                    (4, {"name": "+Plus", "tax_id": None, "address": {"postal_code": None}})]


@pytest.mark.parametrize("value", ["=1+2", "+34612345678", "-5", "@SUM(A1)", "\tx", "\rx"])
def test_formula_neutralised_and_restored(value):
    assert spreadsheets.neutralise(value) == "'" + value
    assert spreadsheets.restore(spreadsheets.neutralise(value)) == value
    assert spreadsheets.restore("'plain") == "'plain"
    assert spreadsheets.neutralise("plain") == "plain"


RECORD = {
    "id": "0c6d1f0e-8f0c-4bd4-9d1e-000000000001", "kind": "company",
    "name": "Lisboa Seguros, Lda.", "tax_id": "PT501964843", "email": "geral@lisboa.pt",
    "phone": "+351912345678", "country": "PT", "language": "pt", "gender": None,
    "category": "Seguros", "tags": ["vip", "norte"],
    "address": {"street": "Rua Augusta 1", "city": "Lisboa", "postal_code": "1100-048",
                "region": None, "country": "PT"},
    "company": {"name": "Lisboa Seguros", "website": "https://lisboa.pt", "email": None,
                "phone": None},
    "notes": "=cmd\nsegunda linha", "created_at": "2026-01-02T03:04:05Z",
}


def test_exported_row_imports_back_to_the_same_fields():
    content = b"".join(exports.csv_stream(iter([RECORD])))
    assert content.startswith(b"\xef\xbb\xbf")
    table = spreadsheets.open_table(content)
    columns = spreadsheets.match_headers(table.header)
    (number, cells), = list(table.rows())
    data = spreadsheets.row_to_client(columns, cells)
    assert data.pop("id") == RECORD["id"]
    fields = validate_client(data)
    for name in ("name", "tax_id", "email", "phone", "country", "tags", "address", "company",
                 "notes", "category", "language"):
        assert fields[name] == RECORD[name], name
    assert cells[spreadsheets.export_header().index("Phone")] == "'+351912345678"
    assert cells[spreadsheets.export_header().index("Tags")] == "vip; norte"
    assert cells[spreadsheets.export_header().index("Date added")] == "2026-01-02"


def test_xlsx_export():
    content = b"".join(exports.xlsx_stream(iter([RECORD, {**RECORD, "name": "Other"}])))
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == spreadsheets.export_header()
    assert [r[0] for r in rows[1:]] == ["Lisboa Seguros, Lda.", "Other"]


def test_pages_follow_the_cursor():
    calls = []

    def list_clients(params):
        calls.append(params)
        if "cursor" not in params:
            return {"items": [{"n": 1}, {"n": 2}], "next_cursor": "c1"}
        return {"items": [{"n": 3}], "next_cursor": None}

    assert [r["n"] for r in exports.pages(list_clients, {"q": "x"})] == [1, 2, 3]
    assert calls[1] == {"q": "x", "limit": "500", "sort": "created_at", "cursor": "c1"}


def _records(count):
    for index in range(count):
        yield {**RECORD, "id": f"0c6d1f0e-8f0c-4bd4-9d1e-{index:012d}",
               "name": f"Client {index}", "tags": [f"t{index}"]}


def _peak(count):
    pages = exports.pages(_pager(count), {})
    tracemalloc.start()
    try:
        size = 0
        for chunk in exports.csv_stream(pages):
            size += len(chunk)
        return tracemalloc.get_traced_memory()[1], size
    finally:
        tracemalloc.stop()


def _pager(count):
    records = _records(count)

    def list_clients(params):
        page = [record for _, record in zip(range(exports.PAGE_SIZE), records)]
        done = len(page) < exports.PAGE_SIZE
        return {"items": page, "next_cursor": None if done else "more"}
    return list_clients


def test_export_memory_stays_flat():
    small, small_size = _peak(10_000)
    large, large_size = _peak(100_000)
    assert large_size > 9 * small_size
    assert large < 2 * small, (small, large)
