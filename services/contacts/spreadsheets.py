"""Spreadsheets of clients: reading CSV/XLSX/XLS/ODS and vCard files, the header dictionary.

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
  ``.xls`` and ``.ods`` workbooks are read by ``workbooks`` (their size measured
  first), vCard files by ``vcards`` (one row per contact).
- :func:`match_headers` maps column headers to client field paths, in English,
  Spanish, Portuguese and Catalan, ignoring case, accents and punctuation; an
  explicit mapping wins.
- :func:`row_to_client` turns one row into the dict ``validate_client`` loads (name
  parts and street lines joined, a whole address split: :data:`SOURCE_PATHS`); it
  reads the values spreadsheets hold (kinds such as "Persona física", tags split as
  the export joins them, postal codes that lost their leading zeros), and
  :func:`row_problem` says why a row wider than the header cannot be imported.
- :func:`neutralise_row` writes a row of cells as read so that no spreadsheet runs
  them as formulas (errors.csv), as the export does.
- :class:`Limits` bound what reading a file may cost (a "zip bomb" of a few KiB can
  inflate to millions of rows or one huge cell): an XLSX file's central directory is
  checked before anything is inflated (total uncompressed size, each part's
  compression ratio, number of parts), what is inflated is counted while inflating,
  and rows, columns and cell lengths are counted while rows are read, for CSV too.
  A file past a limit answers 413 (422 for one cell too long), naming the limit.
"""
import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime

from services.common.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

from . import validation, vcards, workbooks
from .client.spreadsheet import (EXPORT_COLUMNS, FORMULA_STARTS, check_type,  # noqa: F401
                                 client_row, csv_lines, export_header, join_tags, neutralise,
                                 restore, split_tags)
from .client.spreadsheet import UNSUPPORTED as _UNSUPPORTED
from .client.spreadsheet import VCARD_EXTENSIONS

# Paths a column may be mapped to. ``created_at`` is recognised but never imported
# (the date a client was added is the date it is registered); ``id`` (the export's
# client id) lets an upsert find the exported client again, whatever else changed.
# ``photo`` is recognised and never imported either (a picture is not a cell's text).
FIELD_PATHS = tuple(path for _, path in EXPORT_COLUMNS)
IGNORE = "ignore"  # recognised, never imported (a CRM's owner or date columns, in presets)
IGNORED_PATHS = frozenset({"created_at", "photo", IGNORE})

# Paths a column may be mapped to besides the client's fields (see row_to_client):
# - the parts of a person's name, joined with spaces into ``name`` when the row has no
#   name of its own (every column of a part is joined, in column order: "Primer
#   apellido" and "Segundo apellido");
# - more lines of the street, joined to ``address.street`` with ", ";
# - a whole address in one cell, split into street, postal code and city when it parses
#   (else kept as the street), for rows without a street, city or postal code;
# - a "is a company" flag (true/false, yes/no, sí/não...) that gives ``kind``;
# - a photo's data (a vCard's PHOTO, or a data: URI or base64 cell).
NAME_PARTS = ("name.given", "name.middle", "name.family")
STREET_LINES = ("address.street_2", "address.street_3")
FULL_ADDRESS = "address.full"
IS_COMPANY = "kind.is_company"
PHOTO_DATA = "photo.data"
SOURCE_PATHS = NAME_PARTS + STREET_LINES + (FULL_ADDRESS, IS_COMPANY, PHOTO_DATA)
# Why a row of a file that is not a spreadsheet could not be read (a vCard's contact):
# the row is that error. Files' own columns only, never a user's mapping.
ROW_PROBLEM = "row.problem"
MAPPABLE_PATHS = FIELD_PATHS + SOURCE_PATHS + (IGNORE,)

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
        "address line 1", "street 1", "street address 1",
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
    "name.given": [
        "first name", "given name", "forename", "first names",
        "nombre de pila", "primer nombre", "primeiro nome", "nome proprio", "nom de pila",
        "nom propi",
    ],
    "name.middle": ["middle name", "additional name", "segundo nombre", "nome do meio",
                    "segundo nome", "segon nom"],
    "name.family": [
        "last name", "surname", "family name", "last names", "surnames",
        "apellido", "apellidos", "primer apellido", "segundo apellido",
        "sobrenome", "apelido", "apelidos", "ultimo nome", "cognom", "cognoms",
        "primer cognom", "segon cognom",
    ],
    "address.street_2": ["street 2", "address line 2", "street address 2", "address 2",
                         "calle 2", "direccion 2", "linea de direccion 2", "rua 2",
                         "endereco 2", "morada 2", "carrer 2", "adreca 2"],
    "address.street_3": ["street 3", "address line 3", "street address 3", "address 3",
                         "calle 3", "direccion 3", "rua 3", "endereco 3", "carrer 3",
                         "adreca 3"],
    "address.full": ["full address", "formatted address", "complete address",
                     "direccion completa", "endereco completo", "morada completa",
                     "adreca completa"],
    "kind.is_company": ["is a company", "is company", "es una empresa", "e uma empresa",
                        "es una companyia", "is_company"],
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


def neutralise_row(cells):
    """Cells as read from a file (formula quotes already there or not), written so that
    a spreadsheet runs none of them and the importer reads back the same values."""
    return [neutralise(restore(cell)) for cell in cells]


# -- limits ------------------------------------------------------------------------------

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What reading one file may take. ``rows`` counts data rows by their number (a
    row numbered past the limit is refused even when the rows before it are blank);
    ``cell_chars`` defaults to Excel's own limit for a cell."""

    rows: int = 200_000
    columns: int = 200
    cell_chars: int = 32_767
    uncompressed_bytes: int = 256 * MiB
    compression_ratio: int = 200
    zip_entries: int = 1000

    @classmethod
    def from_config(cls, config):
        """The limits set in the config (``IMPORT_MAX_*``); defaults for the others."""
        names = {"rows": "IMPORT_MAX_ROWS", "columns": "IMPORT_MAX_COLUMNS",
                 "cell_chars": "IMPORT_MAX_CELL_CHARS",
                 "uncompressed_bytes": "IMPORT_MAX_UNCOMPRESSED_BYTES",
                 "compression_ratio": "IMPORT_MAX_COMPRESSION_RATIO"}
        values = {field: int(config[key]) for field, key in names.items()
                  if config.get(key) not in (None, "")}
        return cls(**values)


# Parts smaller than this may compress as well as they like (a sheet of one repeated row).
RATIO_FREE_BYTES = MiB
_limits = Limits()


def configure(config):
    """Set the limits every later ``open_table`` of this process applies."""
    global _limits
    _limits = Limits.from_config(config)


def current_limits():
    return _limits


def _too_many_rows(limits):
    return PayloadTooLarge(
        f"The file has more than {limits.rows:,} rows of clients; split it into files of at "
        f"most {limits.rows:,} rows and import them one after the other.",
        {"file": [f"more than {limits.rows} rows"]})


def _too_many_columns(limits, row):
    return PayloadTooLarge(
        f"Row {row} has more than {limits.columns} columns; a file of clients may have at "
        f"most {limits.columns}.", {"file": [f"more than {limits.columns} columns"]})


def _cell_too_long(limits, row):
    return ValidationFailed(
        f"A cell of row {row} holds more than {limits.cell_chars:,} characters, more than "
        "a spreadsheet cell can hold; shorten it.",
        {"file": [f"row {row}: a cell longer than {limits.cell_chars} characters"]})


def _inflates_too_much(limits):
    return PayloadTooLarge(
        f"This workbook unpacks to more than {limits.uncompressed_bytes // MiB} MiB (or packs "
        f"its content more than {limits.compression_ratio} times), more than a workbook of "
        "clients needs; save it again from your spreadsheet program, or as CSV.",
        {"file": ["the workbook unpacks to too much data"]})


def check_row(limits, number, cells):
    """A row within the limits, or 413/422 naming the one it passes."""
    if number > limits.rows + 1:  # the header is row 1
        raise _too_many_rows(limits)
    if len(cells) > limits.columns:
        raise _too_many_columns(limits, number)
    for cell in cells:
        if isinstance(cell, str) and len(cell) > limits.cell_chars:
            raise _cell_too_long(limits, number)


def check_archive(archive, limits):
    """413 for a ZIP whose central directory says it inflates past the limits: in all,
    per part (by its compression ratio), or in its number of parts."""
    entries = archive.infolist()
    if len(entries) > limits.zip_entries:
        raise _inflates_too_much(limits)
    total = 0
    for entry in entries:
        total += entry.file_size
        if entry.file_size > RATIO_FREE_BYTES and \
                entry.file_size > limits.compression_ratio * max(entry.compress_size, 1):
            raise _inflates_too_much(limits)
    if total > limits.uncompressed_bytes:
        raise _inflates_too_much(limits)


class _CountedMember:
    """A part of a ZIP being inflated, whose bytes count against the archive's budget
    (``zipfile`` itself stops at the size the directory declares for the part)."""

    def __init__(self, member, archive):
        self.member = member
        self.archive = archive

    def read(self, size=-1):
        data = self.member.read(size)
        self.archive.spend(len(data))
        return data

    def close(self):
        self.member.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        return getattr(self.member, name)


class BoundedZipFile(zipfile.ZipFile):
    """A ZIP whose parts, opened by anyone (openpyxl), may inflate to at most
    ``limits.uncompressed_bytes`` in all: past it, reading raises 413."""

    def __init__(self, file, limits):
        super().__init__(file)
        self.limits = limits
        self.inflated = 0

    def spend(self, size):
        self.inflated += size
        if self.inflated > self.limits.uncompressed_bytes:
            raise _inflates_too_much(self.limits)

    def open(self, name, mode="r", pwd=None, **kwargs):
        member = super().open(name, mode, pwd, **kwargs)
        return _CountedMember(member, self) if mode == "r" else member


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
    count: int | None = None  # the number of rows, when known without reading them


def is_xlsx(content):
    if content[:4] != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "[Content_Types].xml" in archive.namelist()
    except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, ValueError):
        return False  # a damaged directory (an unknown version, cut short): not a workbook


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


def open_table(content, file_name=None, limits=None):
    """The :class:`Table` of a file's bytes; 415 for anything but CSV/XLSX (see
    :func:`check_type`), 422 for an empty file, 413/422 for a file past the
    :class:`Limits` (its rows raise it while they are read)."""
    limits = limits or _limits
    if not content or not content.strip(b" \t\r\n\xef\xbb\xbf"):
        raise _empty_file()
    check_type(file_name, content)
    if is_xlsx(content):
        return _xlsx_table(content, limits)
    if workbooks.is_xls(content):
        return _sheet_table("xls", lambda: workbooks.xls_rows(content, limits), limits)
    if workbooks.is_ods(content):
        return _sheet_table("ods", lambda: workbooks.ods_rows(content, limits, check_archive,
                                                               BoundedZipFile), limits)
    if content[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        raise UnsupportedMediaType(_UNSUPPORTED)
    extension = _extension(file_name)
    if extension in (".xls", ".ods") and re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]",
                                                   content[:65536]):
        # Named a workbook, holding neither a workbook nor text (a text file named .xls,
        # as some programs export, is read as CSV).
        message = workbooks.NOT_XLS if extension == ".xls" else workbooks.NOT_ODS
        raise UnsupportedMediaType(message, {"file": [message]})
    text, encoding = decode_text(content)
    if not text.strip(" \t\r\n\ufeff"):
        raise _empty_file()
    if vcards.is_vcard(text):
        return vcards.vcard_table(text, limits, Table, check_row, _too_many_rows)
    if extension in VCARD_EXTENSIONS:
        raise vcards.no_contacts()
    delimiter = detect_delimiter(text)
    if text.count("\n") > limits.rows + 1 and \
            sum(1 for _ in csv.reader(io.StringIO(text, newline=""),
                                      delimiter=delimiter or _ONE_COLUMN)) > limits.rows + 1:
        # Refused at once (not midway through the job): more lines than rows allowed,
        # and they are not all line breaks inside quoted cells.
        raise _too_many_rows(limits)

    def records():
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or _ONE_COLUMN)
        index = 0
        try:
            for index, cells in enumerate(reader, start=1):
                check_row(limits, index, cells)
                yield index, cells
        except csv.Error:  # a field past csv's own limit, longer than any cell may be
            raise _cell_too_long(limits, index + 1) from None

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


def _extension(file_name):
    name = str(file_name or "").strip()
    return ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""


def _xlsx_table(content, limits):
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        check_archive(archive, limits)

    def sheet_rows():
        try:
            reader, path = _open_workbook(content, limits)
            archive = reader.archive
        except (PayloadTooLarge, ValidationFailed):
            raise
        except Exception:
            raise UnsupportedMediaType(_UNSUPPORTED) from None
        try:
            yield from _bounded_rows(reader, path, limits)
        except (PayloadTooLarge, ValidationFailed):
            raise
        except Exception:  # a damaged part (bad CRC, sizes the directory lied about)
            raise UnsupportedMediaType(_UNSUPPORTED) from None
        finally:
            archive.close()

    return _sheet_table("xlsx", sheet_rows, limits)


def _sheet_table(format, sheet_rows, limits):
    """The :class:`Table` of a workbook's first sheet; ``sheet_rows()`` gives its
    ``(row_number, cells)`` (row 1 must be the header), each checked here against the
    limits as it is read."""

    def checked():
        for number, cells in sheet_rows():
            cells = [_cell(cell) if not isinstance(cell, str) else cell for cell in cells]
            if format != "xlsx":  # the XLSX reader checks its own, cell by cell
                check_row(limits, number, cells)
            yield number, cells

    header = None
    for number, cells in checked():
        header = cells if number == 1 else []
        header = [(c or "").strip() if isinstance(c, str) else (c or "") for c in header]
        header = [str(c) for c in header]
        while header and not header[-1]:
            header.pop()
        break
    if not header:
        raise ValidationFailed(NO_HEADER, {"file": [NO_HEADER]})

    def rows():
        for number, cells in checked():
            if number == 1 or _blank(cells):
                continue
            yield number, cells

    return Table(format, header, rows)


def _open_workbook(content, limits):
    """``(reader, path)``: what openpyxl reads of a workbook besides its sheets (shared
    strings, date styles), from an archive that counts what it inflates
    (``reader.archive``), and the path of its first worksheet. The sheets are not opened: openpyxl's
    read-only sheet scans a sheet without a ``dimension`` to its end when it opens it
    (a sheet of millions of rows took minutes and hundreds of MiB)."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    reader = ExcelReader(io.BytesIO(content), read_only=True, data_only=True)
    reader.archive = archive = BoundedZipFile(io.BytesIO(content), limits)
    reader.valid_files = archive.namelist()
    reader.read_manifest()
    reader.read_strings()
    reader.read_workbook()
    apply_stylesheet(archive, reader.wb)
    for _, rel in reader.parser.find_sheets():
        if rel.target in reader.valid_files and "chartsheet" not in rel.Type:
            return reader, rel.target
    raise ValidationFailed(NO_HEADER, {"file": [NO_HEADER]})


def _dimension(source):
    """``(max_column, max_row)`` a sheet declares before its data, or ``None``."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.utils.cell import range_boundaries

    for _, element in iterparse(source, events=("start",)):
        name = element.tag.rpartition("}")[2]
        if name == "dimension":
            try:
                _, _, max_column, max_row = range_boundaries(element.get("ref") or "")
            except (TypeError, ValueError):
                return None
            return max_column or 0, max_row or 0
        if name == "sheetData":
            return None
    return None


def _parsed_rows(parser, source):
    """openpyxl's rows of a sheet (``WorkSheetParser.parse`` without the rest of the
    sheet), each dropped from the tree once parsed so memory stays flat."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.xml.constants import SHEET_MAIN_NS

    row_tag, data_tag = f"{{{SHEET_MAIN_NS}}}row", f"{{{SHEET_MAIN_NS}}}sheetData"
    rows = None
    for event, element in iterparse(source, events=("start", "end")):
        if event == "start":
            if element.tag == data_tag:
                rows = element
        elif element.tag == row_tag:
            yield parser.parse_row(element)
            if rows is not None:
                rows.clear()


def _bounded_rows(reader, path, limits):
    """``(row_number, cells)`` of the rows a sheet holds, checked against the limits as
    each row is parsed; a sheet that declares a size past them is refused before its
    rows are read. Rows the sheet leaves out are not made up (openpyxl's own iterator
    fills every missing row and cell: a sheet naming row 1,048,576 or column XFD would
    make a million of them)."""
    from openpyxl.worksheet._reader import WorkSheetParser

    workbook, archive = reader.wb, reader.archive
    with archive.open(path) as source:
        declared = _dimension(source)
    if declared is not None:
        if declared[1] > limits.rows + 1:
            raise _too_many_rows(limits)
        if declared[0] > limits.columns:
            raise _too_many_columns(limits, declared[1])
    parser = WorkSheetParser(None, reader.shared_strings, data_only=True,
                             epoch=workbook.epoch, date_formats=workbook._date_formats,
                             timedelta_formats=workbook._timedelta_formats)
    with archive.open(path) as source:
        for number, parsed in _parsed_rows(parser, source):
            if number > limits.rows + 1:
                raise _too_many_rows(limits)
            width = max((cell["column"] for cell in parsed), default=0)
            if width > limits.columns:
                raise _too_many_columns(limits, number)
            cells = [None] * width
            for cell in parsed:
                cells[cell["column"] - 1] = _cell(cell["value"])
            check_row(limits, number, cells)
            yield number, cells


# -- headers -----------------------------------------------------------------------------

@dataclass
class Columns:
    """Which column holds which field: ``fields`` [(index, path)], ``unknown`` headers
    (not imported), ``ignored`` headers (recognised, never imported), and ``width``:
    the number of columns up to the last one with a header (``None``: not checked).
    ``company_names``: a row whose name is blank (no name parts either) takes its
    company's name (a CRM's contacts that are only a company). ``preset``: the name of
    the CRM export the columns were read as (see ``imports.presets``), or ``None``."""

    fields: list
    unknown: list
    ignored: list
    width: int | None = None
    company_names: bool = False
    preset: str | None = None


def check_mapping(mapping):
    """An explicit mapping {header: field path}; 422 naming each bad entry."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ValidationFailed("some fields are invalid", {
            "mapping": ["must be a JSON object: column header -> field path"]})
    errors = {}
    for header, path in mapping.items():
        if path is not None and path not in MAPPABLE_PATHS:
            errors[f"mapping.{header}"] = [
                f"'{path}' is not a client field; use one of {', '.join(MAPPABLE_PATHS)}"]
    if errors:
        raise ValidationFailed("some fields are invalid", errors)
    return dict(mapping)


# Headers that are the given name when the file also has a family name column
# (Outlook's "Nombre" beside "Apellidos", a sheet's "Name" beside "Surname").
BARE_NAMES = frozenset(header_key(label) for label in (
    "name", "nombre", "nome", "nom", "nombres", "nomes", "prenom"))


def match_headers(header, mapping=None, preset=None):
    """The :class:`Columns` of a header row; 422 when no column is recognised or the
    name has no column. ``mapping`` (the user's) wins over ``preset`` ({folded header:
    path} of a CRM's export, see ``imports.presets``), which wins over the dictionary."""
    explicit = {header_key(k): v for k, v in check_mapping(mapping).items()}
    preset = preset or {}
    fields, unknown, ignored = [], [], []
    for index, title in enumerate(header):
        key = header_key(title)
        if not key:
            continue
        if key in explicit:
            path = explicit[key]
        else:
            path = preset.get(key, HEADERS.get(key))
        if path is None:
            unknown.append(title)
        elif path in IGNORED_PATHS:
            ignored.append(title)
        else:
            # A second column of a field ("Phone" and "Mobile") fills it in the rows
            # where the first one is blank: row_to_client takes the first value.
            fields.append((index, path))
    paths = {path for _, path in fields}
    if "name.family" in paths:
        fields = [(index, "name.given" if path == "name" and header_key(header[index])
                   in BARE_NAMES and header_key(header[index]) not in explicit
                   and header_key(header[index]) not in preset else path)
                  for index, path in fields]
        paths = {path for _, path in fields}
    if not fields and not ignored:
        raise ValidationFailed(NO_HEADER, {"file": [NO_HEADER]})
    has_parts = any(part in paths for part in NAME_PARTS)
    company_names = False
    if "name" not in paths and "company.name" in paths:
        if has_parts:
            company_names = True
        elif "company.name" not in explicit.values():
            # A CRM's export of companies ("Company name", "Account Name") has no other
            # name: the company's name is the client's.
            fields = [(index, "name" if path == "company.name" else path)
                      for index, path in fields]
            paths.add("name")
    if not fields:
        raise ValidationFailed(NO_HEADER, {"file": [NO_HEADER]})
    if "name" not in paths and not has_parts:
        message = ("We could not find the column with the client's name: add a column "
                   "called Name (or Nombre, Nome, Nom) or map one to \"name\".")
        raise ValidationFailed(message, {"file": [message]})
    width = max(index for index, title in enumerate(header) if header_key(title)) + 1
    return Columns(fields, unknown, ignored, width, company_names)


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


# Google Contacts puts several values in one cell: "+34 600 ::: +34 911"; its system
# groups ("* myContacts", "* starred") are not labels anyone gave.
MULTI_VALUE = ":::"
TRUE_WORDS = frozenset(header_key(w) for w in (
    "true", "yes", "1", "x", "si", "sí", "sim", "verdadero", "verdadeiro", "cert", "vrai"))
FALSE_WORDS = frozenset(header_key(w) for w in (
    "false", "no", "0", "nao", "não", "falso", "fals", "faux"))
# What Outlook writes in its Gender column when nobody said.
UNSPECIFIED = frozenset(header_key(w) for w in (
    "unspecified", "no especificado", "não especificado", "nao especificado",
    "sin especificar", "no especificat"))
_PAREN = re.compile(r"\s*\([^)]*\)")


def _several(path, value):
    parts = [part.strip() for part in value.split(MULTI_VALUE)]
    if path == "tags":
        kept = [part for part in parts if part and not part.startswith("*")]
        return "; ".join(kept) or None
    return next((part for part in parts if part), None)


def _plain_value(path, value):
    """A cell's text made into what the field takes, for the forms CRMs export."""
    if MULTI_VALUE in value or (path == "tags" and value.lstrip().startswith("* ")):
        value = _several(path, value)
        if value is None:
            return None
    if path == "tags":
        return split_tags(value)
    if path == "kind":
        return KIND_PHRASES.get(header_key(value), value)
    if path == "language" and "(" in value and "/" not in value:
        return _PAREN.sub("", value).strip() or value  # Odoo's "English (US)"
    if path in ("country", "address.country"):
        found = re.fullmatch(r"base\.([a-z]{2})", value.strip())  # Odoo's external ids
        return found.group(1).upper() if found else value
    if path == "gender" and header_key(value) in UNSPECIFIED:
        return None
    return value


def row_to_client(columns, cells):
    """The client dict of one row (``validate_client``'s input): blank cells are
    ``None``, formula quotes are removed, ``address.x`` paths become nested dicts,
    tags a list, kinds such as "Persona jurídica" ``company``, and all-digit postal
    codes and tax ids get back the leading zeros a number lost (08001 in Spain). When
    two columns hold one field, the first with a value wins. Name parts, street lines
    and a whole address are combined as :data:`SOURCE_PATHS` says; a photo is under
    ``photo`` (what the checker takes out before validating). A row with values
    beyond the header has its :func:`row_problem` under ``EXTRA_CELLS``."""
    data, sources = {}, {}
    for index, path in columns.fields:
        value = cells[index] if index < len(cells) else None
        if path == PHOTO_DATA:
            if value not in (None, "") and path not in sources:
                sources[path] = value if not isinstance(value, str) else restore(value)
            continue
        value = restore(_cell(value))
        if isinstance(value, str) and not value.strip():
            value = None
        if path == ROW_PROBLEM:
            if value is not None:
                data[EXTRA_CELLS] = value
            continue
        if path in SOURCE_PATHS:
            if value is not None:
                sources.setdefault(path, []).append(value.strip())
            continue
        if value is not None:
            value = _plain_value(path, value)
        target, name = data, path
        if "." in path:
            outer, name = path.split(".", 1)
            target = data.setdefault(outer, {})
        if target.get(name) is None:  # else an earlier column of the field has a value
            target[name] = value
    _combine(columns, data, sources)
    country = validation.client_country(data)
    address = data.get("address")
    if address and address.get("postal_code"):
        address["postal_code"] = validation.pad_postal_code(address["postal_code"], country)
    if data.get("tax_id") is not None:
        data["tax_id"] = validation.pad_tax_id(data["tax_id"], country)
    problem = row_problem(columns, cells)
    if problem and EXTRA_CELLS not in data:
        data[EXTRA_CELLS] = problem
    return data


def _combine(columns, data, sources):
    """Fill a row's fields from the columns that are parts of one (see SOURCE_PATHS)."""
    flag = (sources.get(IS_COMPANY) or [None])[0]
    if flag is not None and data.get("kind") is None:
        key = header_key(flag)
        data["kind"] = "company" if key in TRUE_WORDS else "person" if key in FALSE_WORDS \
            else flag  # refused by the checker, which says what it must be
    if data.get("name") is None:
        parts = [" ".join(sources[part]) for part in NAME_PARTS if part in sources]
        if parts:
            data["name"] = " ".join(parts)
            if data.get("kind") is None:
                data["kind"] = "person"
        elif columns.company_names and (data.get("company") or {}).get("name"):
            data["name"] = data["company"]["name"]
    address = data.get("address") or {}
    lines = []
    for value in (address.get("street"), *sources.get("address.street_2", ()),
                  *sources.get("address.street_3", ())):
        if value:
            lines.extend(line.strip(" ,") for line in str(value).splitlines()
                         if line.strip(" ,"))
    if lines:
        data.setdefault("address", {})["street"] = ", ".join(lines)
    full = (sources.get(FULL_ADDRESS) or [None])[0]
    if full and not any(address.get(key) for key in ("street", "city", "postal_code")):
        target = data.setdefault("address", {})
        for key, value in split_address(full).items():
            if target.get(key) is None:
                target[key] = value
    if PHOTO_DATA in sources:
        data["photo"] = sources[PHOTO_DATA]


# A postal code before its city: Spain, Portugal, France, Brazil, Germany ("28013
# Madrid", "1000-001 Lisboa", "01310-100 São Paulo"), the UK's codes after the city.
_CODE = r"(?:\d{4,5}(?:-\d{3,4})?|\d{2}-\d{3}|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})"
_CODE_CITY = re.compile(rf"(?P<code>{_CODE})\s+(?P<city>\S.*)", re.IGNORECASE)
_CITY_CODE = re.compile(rf"(?P<city>\S.*?),?\s+(?P<code>{_CODE})", re.IGNORECASE)
_REGION_CODE = re.compile(rf"(?P<region>[A-Z]{{2,3}})\s+(?P<code>{_CODE})")
_CODE_ONLY = re.compile(_CODE, re.IGNORECASE)


def _country_of(text):
    try:
        return validation.normalize_country(text)
    except validation.InvalidValue:
        return None


def split_address(text):
    """A whole address in one cell as ``{"street", "postal_code", "city", ("region",
    "country")}`` when it parses (lines, or parts separated by commas, with a line
    that holds the postal code and the city), else ``{"street": the lines joined with
    ", "}``."""
    lines = [line.strip(" ,") for line in str(text).splitlines() if line.strip(" ,")]
    if len(lines) == 1:
        lines = [part.strip() for part in lines[0].split(",") if part.strip()]
    whole = {"street": ", ".join(lines)} if lines else {}
    for index in range(1, len(lines)):
        line, found = lines[index], {}
        match = _CODE_CITY.fullmatch(line)
        if match and not _CODE_ONLY.fullmatch(match["city"]):
            found = {"postal_code": match["code"], "city": match["city"], "street": index}
        elif (match := _REGION_CODE.fullmatch(line)) and index >= 2:
            found = {"postal_code": match["code"], "region": match["region"],
                     "city": lines[index - 1], "street": index - 1}
        elif _CODE_ONLY.fullmatch(line) and index >= 2:
            found = {"postal_code": line, "city": lines[index - 1], "street": index - 1}
        elif (match := _CITY_CODE.fullmatch(line)) and not any(ch.isdigit()
                                                                 for ch in match["city"]):
            found = {"postal_code": match["code"], "city": match["city"], "street": index}
        if not found:
            continue
        rest = lines[index + 1:]
        country = _country_of(rest[-1]) if rest else None
        if country:
            found["country"] = country
            rest = rest[:-1]
        if len(rest) == 1 and "region" not in found:
            found["region"] = rest[0]
        elif rest:
            continue
        found["street"] = ", ".join(lines[:found["street"]])
        return found
    return whole
