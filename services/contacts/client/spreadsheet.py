"""Spreadsheets of clients as a caller writes and checks them: the type check of a
file to import, the export's columns, the CSV writer and formula neutralising.

- :func:`check_type` refuses (415) what is plainly not CSV/XLSX by its name,
  declared type or first bytes, with a message saying what to send instead.
- :func:`neutralise` / :func:`restore` guard against formula injection (OWASP "CSV
  injection"): a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR (after any
  ``'``) gets a leading ``'`` on export, and loses one again on import.
- :func:`client_row` / :func:`csv_lines` write the export (``EXPORT_COLUMNS``, the
  English headers the importer reads back; tags joined as :func:`split_tags` reads them).

The reading side (headers, rows, values) is the service's ``spreadsheets`` module.
"""
import csv

from services.common.errors import UnsupportedMediaType

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# The columns the export writes, in order (English headers the importer reads back).
EXPORT_COLUMNS = (
    ("Name", "name"), ("Kind", "kind"), ("Tax ID", "tax_id"), ("Email", "email"),
    ("Phone", "phone"), ("Country", "country"), ("Language", "language"),
    ("Gender", "gender"), ("Category", "category"), ("Tags", "tags"),
    ("Address street", "address.street"), ("Address city", "address.city"),
    ("Address postal code", "address.postal_code"), ("Address region", "address.region"),
    ("Address country", "address.country"), ("Company name", "company.name"),
    ("Company website", "company.website"), ("Company email", "company.email"),
    ("Company phone", "company.phone"), ("Notes", "notes"), ("Date added", "created_at"),
    ("ID", "id"),
)

# -- formula injection -----------------------------------------------------------------

def _quoted_formula(value):
    """Whether ``value`` is a formula start behind zero or more ``'``."""
    return isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS)


def neutralise(value):
    """A cell a spreadsheet would run as a formula gets a leading ``'``; so does one
    that already starts with ``'`` and a formula start (``'=x``), which the importer
    would otherwise read back as ``=x``."""
    if _quoted_formula(value):
        return "'" + value
    return value


def restore(value):
    """Undo :func:`neutralise`: ``'`` followed by a formula start (or by more ``'``
    before one) loses one quote."""
    if _quoted_formula(value) and value.startswith("'"):
        return value[1:]
    return value


UNSUPPORTED = ("This file is not a spreadsheet we can read: send a CSV file (comma, semicolon "
                "or tab separated), a workbook (.xlsx, .xls or .ods) or a vCard file (.vcf).")

# Names spreadsheet programs save CSV and XLSX under (Excel's "Text (Tab delimited)"
# is a .txt); a file with one of these, or with no extension, is judged by its content.
# The other CRMs whose exports the importer knows (``imports/presets.py``), by name.
IMPORT_PRESETS = ("hubspot", "salesforce-accounts", "salesforce-contacts", "google-contacts",
                  "outlook", "odoo", "zoho")

# vCard files of contacts (other CRMs', phones' and address books' exports).
VCARD_EXTENSIONS = frozenset({".vcf", ".vcard"})
SPREADSHEET_EXTENSIONS = frozenset({".csv", ".tsv", ".tab", ".txt", ".xlsx", ".xlsm", ".xls",
                                    ".ods"}) | VCARD_EXTENSIONS
# Spreadsheets in formats this importer does not read: the user can save them as one it does.
CONVERTIBLE = {".xlsb": "Excel binary (.xlsb)", ".numbers": "Numbers (.numbers)",
               ".fods": "OpenDocument (.fods)"}
# Declared types that are never a spreadsheet. Only these refuse a file: browsers
# declare CSV under many names (application/vnd.ms-excel, text/plain, octet-stream...).
NOT_SPREADSHEET_TYPES = ("image/", "audio/", "video/", "font/", "application/pdf",
                         "application/json", "application/msword")
# Text formats that decode like a CSV but are documents.
NOT_SPREADSHEET_STARTS = (b"%pdf-", b"{\\rtf", b"<?xml", b"<html", b"<!doctype")  # lower case


def check_type(file_name, content, content_type=None):
    """415, in words a spreadsheet user understands, for a file that is plainly not a
    CSV or XLSX file by its name, its declared type or its first bytes."""
    name = str(file_name or "").strip()
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if extension in CONVERTIBLE:
        raise UnsupportedMediaType(
            f"{name} is an {CONVERTIBLE[extension]} file, which cannot be imported as it is: "
            "open it in your spreadsheet program, save it as an Excel workbook (.xlsx) or as "
            "CSV, and import that file.", {"file": [f"{extension} files are not read"]})
    mimetype = str(content_type or "").split(";", 1)[0].strip().lower()
    head = (content or b"")[:64].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if (extension and extension not in SPREADSHEET_EXTENSIONS) \
            or mimetype.startswith(NOT_SPREADSHEET_TYPES) or head.startswith(NOT_SPREADSHEET_STARTS):
        what = f"{name} is not a spreadsheet we can read" if name else UNSUPPORTED.split(":")[0]
        raise UnsupportedMediaType(
            f"{what}: send a CSV file (comma, semicolon or tab separated), a workbook (.xlsx, "
            ".xls or .ods) or a vCard file (.vcf).",
            {"file": ["expected a .csv, .xlsx, .xls, .ods or .vcf file"]})


def split_tags(text):
    """The tags of a cell: split on ``;`` when it holds one, else on ``,``. The export
    joins with ``; `` and ends a lone tag holding a comma with ``;`` ("x,y;")."""
    return text.split(";") if ";" in text else text.split(",")


def join_tags(tags):
    """The cell of a list of tags, read back exactly by :func:`split_tags`."""
    text = "; ".join(tags or [])
    if len(tags or []) == 1 and "," in text:
        text += ";"
    return text


# -- writing -----------------------------------------------------------------------------

def client_row(record):
    """The export cells of one client record, in ``EXPORT_COLUMNS`` order."""
    cells = []
    for _, path in EXPORT_COLUMNS:
        if "." in path:
            outer, inner = path.split(".", 1)
            value = (record.get(outer) or {}).get(inner)
        else:
            value = record.get(path)
        if path == "tags":
            value = join_tags(value)
        elif path == "created_at" and value:
            value = str(value)[:10]
        cells.append(neutralise(value) if value not in (None, "") else "")
    return cells


def export_header():
    return [title for title, _ in EXPORT_COLUMNS]


class _Line:
    """A file-like that keeps what ``csv.writer`` writes (one row at a time)."""

    def __init__(self):
        self.parts = []

    def write(self, text):
        self.parts.append(text)

    def take(self):
        text = "".join(self.parts)
        self.parts = []
        return text


def csv_lines(rows, header=None, bom=True):
    """Encoded CSV chunks (UTF-8, BOM first): the header then each row of ``rows``."""
    line = _Line()
    writer = csv.writer(line, lineterminator="\r\n")
    writer.writerow(header or export_header())
    yield (("\ufeff" if bom else "") + line.take()).encode("utf-8")
    buffered = []
    for cells in rows:
        writer.writerow(cells)
        buffered.append(line.take())
        if len(buffered) >= 200:
            yield "".join(buffered).encode("utf-8")
            buffered = []
    if buffered:
        yield "".join(buffered).encode("utf-8")
