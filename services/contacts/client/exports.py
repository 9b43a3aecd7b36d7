"""Export of clients as CSV, XLSX or vCard (``vcards.py``), streamed.

Memory does not grow with the number of clients: :func:`pages` walks the contacts
list (``list_clients``) in keyset pages of at most 500, and the writers turn each
record into one row as it comes. CSV is written line by line (UTF-8 with a BOM so
spreadsheet programs read accents right); XLSX is written with openpyxl's
``write_only`` mode into a temporary file that is then streamed in chunks and removed.

The headers are the importer's English headers (``spreadsheet.EXPORT_COLUMNS``), tags
are joined the way the importer splits them (``spreadsheet.join_tags``), and cells that
a spreadsheet would run as a formula are neutralised (``'=x`` included), so an exported
file imports back (upsert) with every row ``unchanged``.
"""
import os
import tempfile

from . import spreadsheet, vcards

PAGE_SIZE = 500
FILTERS = ("q", "category", "country", "tag", "added_from", "added_to", "archived")
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "vcf": vcards.MEDIA_TYPE,
}
CHUNK = 64 * 1024


def list_params(args):
    """The list filters of an export request (other parameters are ignored)."""
    return {name: args[name] for name in FILTERS if args.get(name) not in (None, "")}


def pages(list_clients, params):
    """Every record ``list_clients(params)`` pages through, one at a time.

    ``list_clients`` is the contacts RPC (or any callable answering ``{"items",
    "next_cursor"}``); pages are walked in keyset order by creation date.
    """
    cursor = None
    while True:
        page_params = {**params, "limit": str(PAGE_SIZE), "sort": "created_at"}
        if cursor:
            page_params["cursor"] = cursor
        page = list_clients(page_params)
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def rows(records):
    for record in records:
        yield spreadsheet.client_row(record)


def csv_stream(records):
    """Encoded CSV chunks of ``records`` (an iterator of client records)."""
    return spreadsheet.csv_lines(rows(records))


def xlsx_stream(records, chunk=CHUNK):
    """The bytes of an XLSX workbook of ``records``, in chunks. The workbook is written
    (write-only, row by row) to a temporary file first, which is removed at the end."""
    from openpyxl import Workbook

    handle, path = tempfile.mkstemp(prefix="clientfolio-export-", suffix=".xlsx")
    os.close(handle)
    try:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Clients")
        sheet.append(spreadsheet.export_header())
        for cells in rows(records):
            sheet.append(cells)
        workbook.save(path)
        with open(path, "rb") as source:
            while True:
                data = source.read(chunk)
                if not data:
                    break
                yield data
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def stream(records, format, photo_of=None):
    """The export's chunks; ``photo_of(record)`` gives a client's photo for a vCard
    export (``(content_type, bytes)`` or ``None``), see ``vcards.vcard_stream``."""
    if format == "vcf":
        return vcards.vcard_stream(records, photo_of)
    return csv_stream(records) if format == "csv" else xlsx_stream(records)


def file_name(format, today):
    return f"clients-{today.isoformat()}.{format}"
