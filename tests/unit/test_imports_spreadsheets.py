"""Reading and writing client spreadsheets: encodings, delimiters, headers in four
languages, formula neutralisation, and an export whose memory stays flat."""
import csv
import io
import pathlib
import tracemalloc

import pytest
from openpyxl import Workbook, load_workbook

from services.common.errors import UnsupportedMediaType, ValidationFailed
from services.contacts import spreadsheets
from services.contacts.client import exports
from services.contacts.schemas import validate_client


def _csv(rows, delimiter=",", encoding="utf-8"):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
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
    with pytest.raises(ValidationFailed):
        spreadsheets.open_table(" \r\n".encode("utf-16"))
    with pytest.raises(UnsupportedMediaType):  # a BOM, then not UTF-16 (odd length)
        spreadsheets.open_table(b"\xff\xfeN\x00a")
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
    assert refused.value.detail.endswith("or a vCard file (.vcf).")
    assert (name or "This file") in refused.value.detail
    if name is None:  # what the service checks again without a name
        with pytest.raises(UnsupportedMediaType):
            spreadsheets.open_table(content)


@pytest.mark.parametrize("name, label", [("Clientes 2019.XLSB", "Excel binary (.xlsb)"),
                                         ("clients.numbers", "Numbers (.numbers)")])
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


# -- one-column files, rows wider than the header ------------------------------------------

def test_a_one_column_file_is_not_split_on_the_commas_of_its_names():
    content = "Nombre\nTalleres Pérez, S.A. X\nConstrucciones García, S.L. X\n".encode()
    assert spreadsheets.detect_delimiter(content.decode()) is None
    table = spreadsheets.open_table(content)
    assert table.header == ["Nombre"] and table.delimiter is None
    columns = spreadsheets.match_headers(table.header)
    assert [spreadsheets.row_to_client(columns, cells) for _, cells in table.rows()] == [
        {"name": "Talleres Pérez, S.A. X"}, {"name": "Construcciones García, S.L. X"}]


def test_a_one_column_file_keeps_quoted_line_breaks_and_semicolons():
    table = spreadsheets.open_table('Name\r\n"Acme; Two\r\nlines"\r\nB\tC\r\n'.encode())
    assert [cells for _, cells in table.rows()] == [["Acme; Two\r\nlines"], ["B\tC"]]


def test_the_delimiter_is_one_the_header_holds():
    assert spreadsheets.detect_delimiter("Name;Email\nAcme, S.L.;a@b.es\n") == ";"
    assert spreadsheets.detect_delimiter('"Name, legal"\nAcme, S.L.\n') is None


def _client_of_row(header, row):
    columns = spreadsheets.match_headers(header)
    return spreadsheets.row_to_client(columns, row), spreadsheets.row_problem(columns, row)


def test_a_row_with_more_cells_than_the_header_is_refused_with_a_clear_message():
    table = spreadsheets.open_table("Nombre,Correo\nAcme, S.L.,a@b.es\n".encode())
    columns = spreadsheets.match_headers(table.header)
    (number, cells), = table.rows()
    problem = spreadsheets.row_problem(columns, cells)
    assert problem.startswith("this row has more cells than the header has columns "
                              "(3 instead of 2)")
    assert "quotes" in problem
    # Until the job reports the problem itself, the row still fails validation.
    with pytest.raises(ValidationFailed) as refused:
        validate_client(spreadsheets.row_to_client(columns, cells))
    assert spreadsheets.EXTRA_CELLS in refused.value.errors


@pytest.mark.parametrize("row", [["Acme", "a@b.es", "", "  "], ["Acme", "a@b.es", None],
                                 ["Acme"]])
def test_trailing_empty_cells_beyond_the_header_are_fine(row):
    data, problem = _client_of_row(["Name", "Email", ""], row)
    assert problem is None and spreadsheets.EXTRA_CELLS not in data
    assert validate_client(data)["name"] == "Acme"


# -- tags and apostrophes make the round trip -----------------------------------------------

@pytest.mark.parametrize("tags, cell", [
    (["x,y"], "x,y;"), (["x,y", "z"], "x,y; z"), (["vip", "norte"], "vip; norte"),
    (["vip"], "vip"), ([], ""), (["=x,y"], "'=x,y;"),
])
def test_tags_are_exported_so_that_they_import_back_exactly(tags, cell):
    record = {**RECORD, "tags": tags}
    cells = spreadsheets.client_row(record)
    assert cells[spreadsheets.export_header().index("Tags")] == cell
    data = spreadsheets.row_to_client(spreadsheets.match_headers(spreadsheets.export_header()),
                                      cells)
    data.pop("id")
    assert validate_client(data)["tags"] == tags


@pytest.mark.parametrize("cell, tags", [
    ("a, b", ["a", "b"]), ("a; b", ["a", "b"]), ("a; b, c", ["a", "b, c"]),
    ("x,y;", ["x,y"]), (";", []),
])
def test_tags_split_on_semicolons_when_the_cell_has_one_else_on_commas(cell, tags):
    data, _ = _client_of_row(["Name", "Tags"], ["Acme", cell])
    assert validate_client(data)["tags"] == tags


@pytest.mark.parametrize("value", ["'=already quoted", "''+1", "'@x", "'\tx"])
def test_a_value_already_quoted_is_quoted_once_more(value):
    assert spreadsheets.neutralise(value) == "'" + value
    assert spreadsheets.restore(spreadsheets.neutralise(value)) == value


@pytest.mark.parametrize("value", ["'plain", "'", "''", "it's =", "O'Neil"])
def test_other_apostrophes_are_left_alone(value):
    assert spreadsheets.neutralise(value) == value
    assert spreadsheets.restore(value) == value


# -- everyday kind, language and postal code values -----------------------------------------

@pytest.mark.parametrize("value, kind", [
    ("Persona física", "person"), ("PERSONA FISICA", "person"), ("Persona jurídica", "company"),
    ("Pessoa singular", "person"), ("Pessoa coletiva", "company"),
    ("Pessoa colectiva", "company"), ("Pessoa física", "person"),
    ("Pessoa jurídica", "company"), ("persona juridica", "company"),
    ("Empresa", "company"), ("Particular", "person"), ("Autónomo", "person"),
    ("company", "company"), ("Self-employed", "person"), ("Sole trader", "person"),
])
def test_kinds_people_write(value, kind):
    data, _ = _client_of_row(["Nombre", "Tipo"], ["Acme", value])
    assert validate_client(data)["kind"] == kind


def test_an_unknown_kind_is_still_refused():
    data, _ = _client_of_row(["Nombre", "Tipo"], ["Acme", "Marciano"])
    with pytest.raises(ValidationFailed) as refused:
        validate_client(data)
    assert "kind" in refused.value.errors


LANGUAGES = {  # code: names in English, Spanish, Portuguese and Catalan
    "es": "Spanish Español Castellano Espanhol Castelhano Espanyol Castellà",
    "pt": "Portuguese Portugués Português Portuguès",
    "ca": "Catalan Catalán Catalão Català Valenciano Valencià",
    "en": "English Inglés Inglês Anglès",
    "fr": "French Francés Francês Francès",
    "de": "German Alemán Alemão Alemany",
    "it": "Italian Italiano Italià",
    "nl": "Dutch Neerlandés Holandés Neerlandês Holandês Neerlandès Holandès",
    "eu": "Basque Vasco Euskera Basco Basc",
    "gl": "Galician Gallego Galego Gallec",
    "zh": "Chinese Chino Chinês Xinès",
    "ja": "Japanese Japonés Japonês Japonès",
    "ar": "Arabic Árabe Àrab",
    "ru": "Russian Ruso Russo Rus",
    "pl": "Polish Polaco Polonês Polonès",
    "ro": "Romanian Rumano Romeno Romanès",
    "sv": "Swedish Sueco Suec",
    "da": "Danish Danés Dinamarquês Danès",
    "no": "Norwegian Noruego Norueguês Noruec",
    "fi": "Finnish Finlandés Finlandês Finès",
    "el": "Greek Griego Grego Grec",
    "tr": "Turkish Turco Turc",
    "he": "Hebrew Hebreo Hebraico Hebreu",
    "hi": "Hindi",
    "ko": "Korean Coreano Coreà",
}


@pytest.mark.parametrize("code, name", [(code, name) for code, names in LANGUAGES.items()
                                        for name in names.split()])
def test_language_names_in_four_languages(code, name):
    from services.contacts.validation import normalize_language, search_text
    assert normalize_language(name) == code
    assert normalize_language(name.upper()) == code
    assert normalize_language(search_text(name)) == code  # accents are optional


@pytest.mark.parametrize("country, cell, postal_code", [
    ("ES", 8001, "08001"), ("España", "8001", "08001"), ("FR", 1000, "01000"),
    ("IT", 100, "00100"), ("DE", 1067, "01067"), ("US", 2134, "02134"),
    ("MX", 1000, "01000"), ("PT", 1000, "1000"), ("PT", "1100-048", "1100-048"),
    ("ES", "28001", "28001"), ("ES", "E-8001", "E-8001"), (None, 8001, "8001"),
    ("GB", "SW1A 1AA", "SW1A 1AA"), ("ES", 123456, "123456"),
])
def test_postal_codes_that_lost_their_leading_zeros_get_them_back(country, cell, postal_code):
    data = _client_of_xlsx_row(["Nombre", "País", "Código postal"], ["Acme", country, cell])
    assert data["address"]["postal_code"] == postal_code


def _client_of_xlsx_row(header, row, mapping=None):
    """The client dict of one row of a workbook (typed cells: numbers stay numbers)."""
    workbook = Workbook()
    workbook.active.append(header)
    workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    table = spreadsheets.open_table(out.getvalue())
    columns = spreadsheets.match_headers(table.header, mapping)
    (_, cells), = table.rows()
    return spreadsheets.row_to_client(columns, cells)


def test_the_address_country_decides_the_postal_code_too():
    data, _ = _client_of_row(["Name", "Address country", "Postal code"], ["Acme", "ES", "8001"])
    assert data["address"] == {"country": "ES", "postal_code": "08001"}


def test_a_company_export_without_a_name_column_takes_the_company_name():
    columns = spreadsheets.match_headers(["Account Name", "Phone Number", "City"])
    assert (0, "name") in columns.fields and (0, "company.name") not in columns.fields
    both = spreadsheets.match_headers(["Name", "Company name"])
    assert both.fields == [(0, "name"), (1, "company.name")]
    with pytest.raises(ValidationFailed):  # mapped on purpose: the user said what it is
        spreadsheets.match_headers(["Empresa"], {"Empresa": "company.name"})


@pytest.mark.parametrize("country, cell, tax_id", [
    ("IT", 488410010, "00488410010"),  # Partita IVA that Excel stored as a number
    ("Italia", "488410010", "00488410010"),
    ("BR", 1234567890, "01234567890"),  # CPF
    ("BR", "360305000104", "00360305000104"),  # CNPJ
    ("US", 12345678, "012345678"),  # EIN
    ("IT", "00488410010", "00488410010"),  # kept as written
    ("IT", "488410011", "488410011"),  # no padding makes it valid: refused as written
    ("IT", "4884", "4884"),  # too many zeros lost to guess
    ("ES", "488410010", "488410010"),  # Spanish ids are never all digits with zeros lost
    (None, "488410010", "488410010"),  # no country, no rule
])
def test_tax_ids_that_lost_their_leading_zeros_get_them_back(country, cell, tax_id):
    data = _client_of_xlsx_row(["Nome", "País", "Partita IVA / CPF"], ["Acme", country, cell],
                               {"Partita IVA / CPF": "tax_id"})
    assert data["tax_id"] == tax_id


def test_a_padded_tax_id_is_valid_and_one_that_is_not_is_refused_as_written():
    data, _ = _client_of_row(["Name", "Country", "Tax ID"], ["Acme", "IT", "488410010"])
    assert validate_client(data)["tax_id"] == "00488410010"
    data, _ = _client_of_row(["Name", "Country", "Tax ID"], ["Acme", "IT", "488410011"])
    with pytest.raises(ValidationFailed) as failed:
        validate_client(data)
    assert "tax_id" in failed.value.errors


@pytest.mark.parametrize("phone, mobile, expected", [
    ("+34 912 345 678", "+34 612 345 678", "+34 912 345 678"),
    (None, "+34 612 345 678", "+34 612 345 678"),
    ("", "+34 612 345 678", "+34 612 345 678"),
    (None, None, None),
])
def test_a_second_column_of_a_field_fills_the_rows_where_the_first_is_blank(
        phone, mobile, expected):
    columns = spreadsheets.match_headers(["Nombre", "Teléfono", "Teléfono móvil", "Email"])
    assert not columns.unknown
    data, _ = _client_of_row(["Nombre", "Teléfono", "Teléfono móvil"],
                             ["Acme", phone, mobile])
    assert data["phone"] == expected
