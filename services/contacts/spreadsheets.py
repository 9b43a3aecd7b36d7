"""Spreadsheets of clients: reading CSV/XLSX files, the header dictionary.

Pure functions (no database, no RPC), used by the import jobs (``imports``). The
caller's side (the type check :func:`check_type`, the export's columns and CSV writer,
formula neutralising :func:`neutralise` / :func:`restore`) is ``client.spreadsheet``,
whose names are importable from here too.

- :func:`open_table` decides a file's type by its content (XLSX is a ZIP holding
  ``[Content_Types].xml``; anything else must decode as text: UTF-16 with its BOM
  (Excel's "Unicode Text"), UTF-8 with or without BOM, else Windows-1252), detects
  the CSV delimiter (comma, semicolon or tab, one
  the header line holds: a one-column file has none) and returns a :class:`Table`:
  its header and an iterator of ``(row_number, cells)`` numbered as a spreadsheet
  shows them (header = row 1; a quoted cell holding line breaks is still one row).
- :func:`match_headers` maps column headers to client field paths, in English,
  Spanish, Portuguese and Catalan, ignoring case, accents and punctuation; an
  explicit mapping wins.
- :func:`row_to_client` turns one row into the dict ``validate_client`` loads; it
  reads the values spreadsheets hold (kinds such as "Persona física", tags split as
  the export joins them, postal codes that lost their leading zeros), and
  :func:`row_problem` says why a row wider than the header cannot be imported.
"""
import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime

from services.common.errors import UnsupportedMediaType, ValidationFailed

from . import validation
from .client.spreadsheet import (EXPORT_COLUMNS, FORMULA_STARTS, check_type,  # noqa: F401
                                 client_row, csv_lines, export_header, join_tags, neutralise,
                                 restore, split_tags)
from .client.spreadsheet import UNSUPPORTED as _UNSUPPORTED

# Paths a column may be mapped to. ``created_at`` is recognised but never imported
# (the date a client was added is the date it is registered); ``id`` (the export's
# client id) lets an upsert find the exported client again, whatever else changed.
# ``photo`` is recognised and never imported either (a picture is not a cell's text).
FIELD_PATHS = tuple(path for _, path in EXPORT_COLUMNS)
IGNORED_PATHS = frozenset({"created_at", "photo"})

# field path -> headers people write (en, es, pt, ca); compared folded (see header_key).
HEADER_LABELS = {
    "name": [
        "name", "client", "customer", "client name", "customer name", "legal name",
        "full name", "display name",
        "nombre", "cliente", "nombre del cliente", "nombre legal", "razon social",
        "nombre completo", "nombre o razon social", "nombre fiscal",
        "nome", "nome legal", "nome do cliente", "razao social", "nome completo",
        "denominacao social",
        "nome ou razao social", "denominacion social", "denominacio social",
        "nom", "client", "nom del client", "nom legal", "rao social", "nom complet",
    ],
    "kind": [
        "kind", "type", "client type", "customer type",
        "tipo", "tipo de cliente", "tipo de persona", "tipus", "tipus de client",
    ],
    "tax_id": [
        "tax id", "tax number", "tax identification number", "vat", "vat number", "vat id",
        "tin", "tax code",
        "nif", "cif", "nie", "nif cif", "cif nif", "nif nie", "numero de identificacion fiscal",
        "identificacion fiscal", "numero fiscal", "dni", "nif iva", "rfc", "cuit", "rut",
        "numero de identificacao fiscal", "numero de contribuinte", "contribuinte", "nipc",
        "cnpj", "cpf", "cpf cnpj",
        "no contribuinte", "no de contribuinte", "n contribuinte", "n de contribuinte",
        "nif nipc", "id fiscal", "ruc", "nit", "cuil", "cuit cuil",
        "numero d identificacio fiscal", "numero de identificacio fiscal",
        "identificacio fiscal",
    ],
    "email": [
        "email", "e mail", "email address", "mail",
        "correo", "correo electronico", "email del cliente",
        "correio eletronico", "correio electronico", "endereco de email",
        "endereco de e mail",
        "correu", "correu electronic", "adreca electronica",
    ],
    "phone": [
        "phone", "telephone", "phone number", "mobile", "mobile phone", "cell", "cell phone",
        "telefono", "telefono movil", "movil", "celular", "telefono fijo",
        "telefone", "telemovel", "telefone movel", "numero de telefone",
        "telefon", "telefon mobil", "mobil",
        "mobile number", "numero de telefono", "numero de telefono movil", "numero de movil",
        "telefono celular", "numero de celular", "telefone celular", "numero de telemovel",
        "telemobil", "numero de telefon", "numero de mobil",
    ],
    "country": ["country", "pais", "pais del cliente", "pais do cliente", "nationality"],
    "language": ["language", "idioma", "lengua", "lingua", "llengua", "idioma preferido"],
    "gender": ["gender", "sex", "genero", "sexo", "genere", "sexe"],
    "category": [
        "category", "client category", "customer category", "group", "segment",
        "categoria", "categoria de cliente", "categoria do cliente", "grupo",
        "categoria de client",
    ],
    "tags": ["tags", "labels", "etiquetas", "etiquetes", "marcadores"],
    "address.street": [
        "address", "street", "address street", "address line", "street address",
        "billing address", "direccion", "calle", "domicilio", "direccion postal",
        "endereco", "morada", "rua", "adreca", "carrer", "domicili",
    ],
    "address.city": [
        "city", "town", "address city", "ciudad", "localidad", "poblacion", "municipio",
        "cidade", "concelho", "ciutat", "poblacio", "localitat", "municipi",
        "localidade",
    ],
    "address.postal_code": [
        "postal code", "postcode", "zip", "zip code", "address postal code",
        "codigo postal", "cp", "cod postal", "codi postal",
        "cep", "codigo de enderecamento postal",
    ],
    "address.region": [
        "region", "state", "province", "county", "address region",
        "provincia", "comunidad autonoma", "estado", "distrito", "regiao", "regio",
    ],
    "address.country": [
        "address country", "pais de la direccion", "pais del domicilio",
        "pais do endereco", "pais da morada", "pais de l adreca",
    ],
    "company.name": [
        "company name", "account name", "company", "organization", "organisation",
        "business name",
        "empresa", "nombre de la empresa", "nombre comercial", "nome da empresa",
        "nome comercial", "nom de l empresa", "nom comercial",
    ],
    "company.website": [
        "website", "company website", "web", "site", "url", "homepage", "web site",
        "sitio web", "pagina web", "sitio", "site da empresa", "lloc web",
        "official website", "sitio web oficial", "web oficial", "pagina web oficial",
        "site oficial", "lloc web oficial",
    ],
    "company.email": [
        "company email", "correo de la empresa", "email de la empresa", "email da empresa",
        "correu de l empresa",
    ],
    "company.phone": [
        "company phone", "telefono de la empresa", "telefone da empresa",
        "telefon de l empresa",
    ],
    "notes": [
        "notes", "note", "comments", "remarks", "notas", "observaciones", "comentarios",
        "observacoes", "notes internes", "observacions", "comentaris",
    ],
    "id": ["id", "client id", "customer id", "clientfolio id"],
    # A picture cannot travel in a cell: recognised so it is reported as ignored, not unknown.
    "photo": ["photo", "profile photo", "picture", "avatar", "foto", "foto de perfil",
              "fotografia", "imagen", "imagem", "imatge"],
    "created_at": [
        "date added", "added", "created", "created at", "creation date",
        "fecha anadida", "fecha de alta", "fecha de creacion", "alta",
        "data adicionada", "data de criacao", "data de registo", "data de cadastro",
        "data afegida", "data d alta", "data de creacio",
    ],
}


def header_key(text):
    """A header folded for comparison: no case, accents, spaces or punctuation."""
    text = unicodedata.normalize("NFKD", str(text or "")).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[\W_]+", "", text)


HEADERS = {}
for _path, _labels in HEADER_LABELS.items():
    for _label in _labels:
        HEADERS.setdefault(header_key(_label), _path)
for _header, _path in EXPORT_COLUMNS:
    HEADERS[header_key(_header)] = _path

NO_HEADER = ("We could not find a header row with column names such as Name, Email or "
             "Tax ID in the first row of the file.")


# -- reading -----------------------------------------------------------------------------

@dataclass
class Table:
    """A parsed file: ``format`` (``csv``/``xlsx``), ``header`` (list of str), and
    ``rows()``: an iterator of ``(row_number, [cells])`` over the non-blank data rows."""

    format: str
    header: list
    rows: object = field(repr=False)
    delimiter: str | None = None
    encoding: str | None = None


def is_xlsx(content):
    if content[:4] != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "[Content_Types].xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def decode_text(content):
    """``(text, encoding)``: UTF-16 when it starts with its BOM (Excel's "Unicode Text",
    tab separated), else UTF-8 (BOM removed), else Windows-1252; 415 for binary data."""
    if content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return content.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise UnsupportedMediaType(_UNSUPPORTED) from None
    if b"\x00" in content[:65536]:
        raise UnsupportedMediaType(_UNSUPPORTED)
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = content.decode("cp1252")
    except UnicodeDecodeError:
        raise UnsupportedMediaType(_UNSUPPORTED) from None
    return text, "windows-1252"


def detect_delimiter(text):
    """The delimiter of a CSV text: the one of ``,``, ``;``, tab most found in its first
    line outside quotes; ``None`` when the header holds none (a one-column file, whose
    names may well hold commas: "Talleres Pérez, S.A.")."""
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in text[:65536]:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "\r\n":
            break
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else None


# What a one-column file is read with: the unit separator, which no one types, so each
# line (or quoted cell) is one cell.
_ONE_COLUMN = "\x1f"


def _blank(cells):
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _cell(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat() if value.time() != datetime.min.time() \
            else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _empty_file():
    return ValidationFailed("The file is empty: it needs a header row and at least one "
                            "row of clients.", {"file": ["the file is empty"]})


def open_table(content, file_name=None):
    """The :class:`Table` of a file's bytes; 415 for anything but CSV/XLSX (see
    :func:`check_type`), 422 for an empty file."""
    if not content or not content.strip(b" \t\r\n\xef\xbb\xbf"):
        raise _empty_file()
    check_type(file_name, content)
    if is_xlsx(content):
        return _xlsx_table(content)
    if content[:4] in (b"PK\x03\x04", b"PK\x05\x06") or content[:8] == \
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise UnsupportedMediaType(_UNSUPPORTED)
    text, encoding = decode_text(content)
    if not text.strip(" \t\r\n\ufeff"):
        raise _empty_file()
    delimiter = detect_delimiter(text)

    def records():
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or _ONE_COLUMN)
        for index, cells in enumerate(reader, start=1):
            yield index, cells

    iterator = records()
    header = None
    for _, cells in iterator:
        header = [c.strip() for c in cells]
        break
    if header is None or _blank(header):
        raise ValidationFailed(NO_HEADER, {"file": [NO_HEADER]})

    def rows():
        for number, cells in records():
            if number == 1 or _blank(cells):
                continue
            yield number, cells

    return Table("csv", header, rows, delimiter, encoding)


def _xlsx_table(content):
    from openpyxl import load_workbook

    def sheet_rows():
        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:
            raise UnsupportedMediaType(_UNSUPPORTED) from None
        try:
            sheet = workbook.worksheets[0]
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, [_cell(v) for v in values]
        finally:
            workbook.close()

    header = None
    for _, cells in sheet_rows():
        header = [(c or "").strip() if isinstance(c, str) else (c or "") for c in cells]
        header = [str(c) for c in header]
        while header and not header[-1]:
            header.pop()
        break
    if not header:
        raise ValidationFailed(NO_HEADER, {"file": [NO_HEADER]})

    def rows():
        for number, cells in sheet_rows():
            if number == 1 or _blank(cells):
                continue
            yield number, cells

    return Table("xlsx", header, rows)


# -- headers -----------------------------------------------------------------------------

@dataclass
class Columns:
    """Which column holds which field: ``fields`` [(index, path)], ``unknown`` headers
    (not imported), ``ignored`` headers (recognised, never imported), and ``width``:
    the number of columns up to the last one with a header (``None``: not checked)."""

    fields: list
    unknown: list
    ignored: list
    width: int | None = None


def check_mapping(mapping):
    """An explicit mapping {header: field path}; 422 naming each bad entry."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ValidationFailed("some fields are invalid", {
            "mapping": ["must be a JSON object: column header -> field path"]})
    errors = {}
    for header, path in mapping.items():
        if path is not None and path not in FIELD_PATHS:
            errors[f"mapping.{header}"] = [
                f"'{path}' is not a client field; use one of {', '.join(FIELD_PATHS)}"]
    if errors:
        raise ValidationFailed("some fields are invalid", errors)
    return dict(mapping)


def match_headers(header, mapping=None):
    """The :class:`Columns` of a header row; 422 when no column is recognised or the
    name has no column."""
    explicit = {header_key(k): v for k, v in check_mapping(mapping).items()}
    fields, unknown, ignored, taken = [], [], [], set()
    for index, title in enumerate(header):
        key = header_key(title)
        if not key:
            continue
        path = explicit[key] if key in explicit else HEADERS.get(key)
        if path is None:
            unknown.append(title)
            continue
        # A second column of a field ("Phone" and "Mobile") fills it in the rows where
        # the first one is blank: row_to_client takes the first value.
        taken.add(path)
        if path in IGNORED_PATHS:
            ignored.append(title)
        else:
            fields.append((index, path))
    if not fields:
        raise ValidationFailed(NO_HEADER, {"file": [NO_HEADER]})
    if "name" not in taken and "company.name" in taken and "company.name" not in \
            explicit.values():
        # A CRM's export of companies ("Company name", "Account Name") has no other
        # name: the company's name is the client's.
        fields = [(index, "name" if path == "company.name" else path)
                  for index, path in fields]
        taken.add("name")
    if "name" not in taken:
        message = ("We could not find the column with the client's name: add a column "
                   "called Name (or Nombre, Nome, Nom) or map one to \"name\".")
        raise ValidationFailed(message, {"file": [message]})
    width = max(index for index, title in enumerate(header) if header_key(title)) + 1
    return Columns(fields, unknown, ignored, width)


# What spreadsheets say in the kind column besides the words ``validate_client`` knows
# ("Empresa", "Particular", "Autónomo"), compared folded (see header_key).
KIND_PHRASES = {
    header_key(phrase): kind
    for kind, phrases in {
        "person": ("persona física", "pessoa física", "pessoa singular", "persona natural",
                   "natural person", "private individual", "self-employed", "sole trader",
                   "sole proprietor", "freelance", "freelancer", "autónoma",
                   "trabajador autónomo", "trabajadora autónoma", "empresario individual",
                   "empresária em nome individual", "empresário em nome individual",
                   "empresari individual", "treballador autònom", "PF"),
        "company": ("persona jurídica", "pessoa jurídica", "pessoa coletiva",
                    "pessoa colectiva", "persona moral", "legal person", "legal entity",
                    "sociedade", "societat", "PJ"),
    }.items()
    for phrase in phrases
}

# The key under which row_to_client marks a row wider than its header (see row_problem).
# validate_client refuses keys it does not know, so such a row is never imported.
EXTRA_CELLS = "extra_cells"


def row_problem(columns, cells):
    """Why a row cannot be imported as it is, or ``None``: a value beyond the header's
    last column (usually a separator inside a cell without quotes, which split it).
    Empty cells there are fine (Excel's CSV exports often end rows with some)."""
    if columns.width is None:
        return None
    extra = [cell for cell in cells[columns.width:]
             if cell is not None and str(cell).strip()]
    if not extra:
        return None
    used = max(index for index, cell in enumerate(cells)
               if cell is not None and str(cell).strip()) + 1
    return (f"this row has more cells than the header has columns ({used} instead of "
            f"{columns.width}): a cell probably holds the separator without quotes, so its "
            "text was split; put that cell in quotes (or give the extra column a header)")


def row_to_client(columns, cells):
    """The client dict of one row (``validate_client``'s input): blank cells are
    ``None``, formula quotes are removed, ``address.x`` paths become nested dicts,
    tags a list, kinds such as "Persona jurídica" ``company``, and all-digit postal
    codes and tax ids get back the leading zeros a number lost (08001 in Spain). When
    two columns hold one field, the first with a value wins. A row with values
    beyond the header has its :func:`row_problem` under ``EXTRA_CELLS``."""
    data = {}
    for index, path in columns.fields:
        value = cells[index] if index < len(cells) else None
        value = restore(_cell(value))
        if isinstance(value, str) and not value.strip():
            value = None
        if path == "tags" and value is not None:
            value = split_tags(value)
        elif path == "kind" and value is not None:
            value = KIND_PHRASES.get(header_key(value), value)
        target, name = data, path
        if "." in path:
            outer, name = path.split(".", 1)
            target = data.setdefault(outer, {})
        if target.get(name) is None:  # else an earlier column of the field has a value
            target[name] = value
    country = validation.client_country(data)
    address = data.get("address")
    if address and address.get("postal_code"):
        address["postal_code"] = validation.pad_postal_code(address["postal_code"], country)
    if data.get("tax_id") is not None:
        data["tax_id"] = validation.pad_tax_id(data["tax_id"], country)
    problem = row_problem(columns, cells)
    if problem:
        data[EXTRA_CELLS] = problem
    return data
