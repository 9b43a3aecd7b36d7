"""Excel 97-2003 (``.xls``) and OpenDocument (``.ods``) workbooks, read with calamine.

calamine reads a sheet whole, into a dense grid from its first to its last cell: a few
KiB of ``.xls`` naming cells A1 and IV65536 would take a GiB, and an ``.ods`` row
repeated a million times (``table:number-rows-repeated``) as much. So the sheet's size
is measured first, without calamine, and a sheet past the import limits (rows, columns,
and :data:`MAX_SHEET_CELLS` cells in its grid) is refused (413) before it is read:

- ``.xls``: the compound file's ``Workbook`` stream is found through its FAT (or mini
  FAT) and the first worksheet's cell records scanned for their rows and columns;
- ``.ods``: the ZIP's directory is checked as an XLSX file's is (sizes, ratios), then
  ``content.xml`` is scanned (inflated under the same budget) with its repeats counted.

calamine itself runs in a child process with a memory limit (``workbook_reader``):
a damaged file can still make it ask for more memory than there is, and Rust aborts
the process that asked. Rows are numbered as the spreadsheet shows them (row 1 is the
header).
"""
import io
import json
import os
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

from services.common.errors import PayloadTooLarge, UnsupportedMediaType

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
# Cells in a sheet's grid (first to last cell) calamine may build: about 60 bytes each.
MAX_SHEET_CELLS = 3_000_000

NOT_XLS = ("This file is named as an Excel 97-2003 workbook (.xls) but is not one we can "
           "read: open it in your spreadsheet program and save it again (as .xlsx, .xls or "
           "CSV).")
NOT_ODS = ("This OpenDocument spreadsheet (.ods) cannot be read: it is damaged or not a "
           "spreadsheet. Open it in your spreadsheet program and save it again.")


def is_xls(content):
    return content[:8] == OLE_MAGIC


def is_ods(content):
    if content[:4] != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
            if "mimetype" not in names or "content.xml" not in names:
                return False
            info = archive.getinfo("mimetype")
            if info.file_size > 200:
                return False
            return archive.read("mimetype").strip() == ODS_MIMETYPE
    except Exception:  # a damaged ZIP raises many kinds: it is then no workbook
        return False


def _unreadable(message):
    return UnsupportedMediaType(message, {"file": [message]})


def _too_big(limits):
    return PayloadTooLarge(
        f"This workbook's first sheet spans more cells than an import reads ({limits.rows:,} "
        f"rows, {limits.columns} columns, {MAX_SHEET_CELLS:,} cells in all, counted from "
        "its first to its last cell); delete the empty rows and columns around the data, "
        "or split the file.", {"file": ["the sheet is too large"]})


def _check_size(limits, rows, columns):
    if rows > limits.rows + 1 or columns > limits.columns or rows * columns > MAX_SHEET_CELLS:
        raise _too_big(limits)


# -- .xls: the compound file and its BIFF records ----------------------------------------

_FREE = 0xFFFFFFFA  # sector numbers from here on are markers (end of chain, free...)
# Records that name a cell (row, column first): BLANK, NUMBER, LABEL, BOOLERR, FORMULA,
# RK, MULRK, MULBLANK, LABELSST, RSTRING.
_CELL_RECORDS = {0x0201, 0x0203, 0x0204, 0x0205, 0x0006, 0x027E, 0x00BD, 0x00BE, 0x00FD,
                 0x00D6}
_MULTI_RECORDS = {0x00BD, 0x00BE}  # their last column is their last field
_BOF, _EOF, _WORKSHEET = 0x0809, 0x000A, 0x0010


def _u32s(data):
    return struct.unpack(f"<{len(data) // 4}I", data[:len(data) // 4 * 4])


def workbook_stream(content):
    """The ``Workbook`` (or Excel 5's ``Book``) stream of a compound file."""
    if len(content) < 512 or not is_xls(content):
        raise _unreadable(NOT_XLS)
    shift, mini_shift = struct.unpack_from("<HH", content, 30)
    if shift not in (9, 12) or mini_shift != 6:
        raise _unreadable(NOT_XLS)
    size = 1 << shift
    (fat_count, dir_start, _, cutoff, minifat_start, minifat_count, difat_start,
     difat_count) = struct.unpack_from("<IIIIIIII", content, 44)
    sectors = max((len(content) - 512) // size, 0)

    def sector(number):
        offset = 512 + number * size
        return content[offset:offset + size]

    difat = list(_u32s(content[76:512]))
    number, hops = difat_start, 0
    while number < _FREE and number < sectors and hops <= sectors:
        entries = _u32s(sector(number))
        difat.extend(entries[:-1])
        number, hops = entries[-1], hops + 1
    fat = []
    for number in difat[:fat_count]:
        if number < _FREE and number < sectors:
            fat.extend(_u32s(sector(number)))

    def chain(start, table, limit):
        seen = set()
        while start < _FREE and start < len(table) and start < limit and start not in seen:
            seen.add(start)
            yield start
            start = table[start]

    directory = b"".join(sector(n) for n in chain(dir_start, fat, sectors))
    entries = []
    for offset in range(0, len(directory) - 127, 128):
        raw = directory[offset:offset + 128]
        length = struct.unpack_from("<H", raw, 64)[0]
        name = raw[:max(min(length, 64) - 2, 0)].decode("utf-16-le", "replace")
        kind = raw[66]
        start, stream_size = struct.unpack_from("<II", raw, 116)
        entries.append((name, kind, start, stream_size))
    if not entries:
        raise _unreadable(NOT_XLS)
    wanted = next((e for e in entries if e[1] == 2 and e[0].lower() == "workbook"), None) or \
        next((e for e in entries if e[1] == 2 and e[0].lower() == "book"), None)
    if wanted is None:
        raise _unreadable(NOT_XLS)
    _, _, start, stream_size = wanted
    if stream_size > len(content):
        raise _unreadable(NOT_XLS)
    if stream_size >= cutoff:
        return b"".join(sector(n) for n in chain(start, fat, sectors))[:stream_size]
    root = entries[0]
    mini_stream = b"".join(sector(n) for n in chain(root[2], fat, sectors))
    minifat = _u32s(b"".join(sector(n) for n in chain(minifat_start, fat, sectors)))
    blocks = len(mini_stream) // 64
    return b"".join(mini_stream[n * 64:(n + 1) * 64]
                    for n in chain(start, minifat, blocks))[:stream_size]


def xls_extent(stream):
    """``(rows, columns)`` of the first worksheet's cells (from A1 to its last cell)."""
    position, sheet, last_row, last_column = 0, 0, -1, -1
    while position + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, position)
        body = stream[position + 4:position + 4 + length]
        position += 4 + length
        if kind == _BOF and len(body) >= 4:
            if struct.unpack_from("<H", body, 2)[0] == _WORKSHEET:
                sheet += 1
        elif kind == _EOF and sheet == 1:
            break
        elif sheet == 1 and kind in _CELL_RECORDS and len(body) >= 4:
            row, column = struct.unpack_from("<HH", body, 0)
            if kind in _MULTI_RECORDS and len(body) >= 6:
                column = max(column, struct.unpack_from("<H", body, len(body) - 2)[0])
            last_row, last_column = max(last_row, row), max(last_column, column)
    return last_row + 1, last_column + 1


# -- .ods: content.xml, repeats counted ----------------------------------------------------

_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_TEXT_NS = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def _repeat(element, name):
    try:
        return max(int(element.get(f"{{{_TABLE_NS}}}{name}") or 1), 1)
    except ValueError:
        return 1


def ods_extent(source):
    """``(rows, columns)`` of the first table of an ODS ``content.xml`` (a file object),
    from A1 to its last cell holding a value: repeated empty rows and cells at the
    end (LibreOffice writes a million of them) count for nothing."""
    from xml.etree.ElementTree import iterparse

    table_tag, row_tag = f"{{{_TABLE_NS}}}table", f"{{{_TABLE_NS}}}table-row"
    cell_tags = {f"{{{_TABLE_NS}}}table-cell", f"{{{_TABLE_NS}}}covered-table-cell"}
    value_type = f"{{{_OFFICE_NS}}}value-type"
    rows = last_row = last_column = 0
    depth = 0
    for event, element in iterparse(source, events=("start", "end")):
        if element.tag == table_tag:
            if event == "start":
                depth += 1
                continue
            break  # the first table only
        if event != "end" or depth == 0 or element.tag != row_tag:
            continue
        column = used = 0
        for cell in element:
            if cell.tag not in cell_tags:
                continue
            span = _repeat(cell, "number-columns-repeated")
            if cell.get(value_type) is not None or len(cell):
                used = column + span
            column += span
        span = _repeat(element, "number-rows-repeated")
        if used:
            last_row, last_column = rows + span, max(last_column, used)
        rows += span
        element.clear()
    return last_row, last_column


# -- reading -----------------------------------------------------------------------------

READ_SECONDS = 300  # a child reading one workbook is stopped after this long
_ROOT = str(Path(__file__).resolve().parents[2])  # where the ``services`` package is


def _calamine_rows(content, unreadable):
    """The rows calamine reads, from a child process (``workbook_reader``) under a
    memory limit: a workbook that makes calamine abort, or take too long, is
    unreadable (415), and the service goes on."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        part for part in (_ROOT, os.environ.get("PYTHONPATH")) if part)}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.contacts.workbook_reader"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment, cwd=_ROOT)
    timer = threading.Timer(READ_SECONDS, process.kill)
    timer.start()
    try:
        try:
            process.stdin.write(content)
            process.stdin.close()
        except OSError:  # the child stopped reading: it died
            raise _unreadable(unreadable) from None
        if process.stdout.readline().strip() != b"ok":
            raise _unreadable(unreadable)
        for line in process.stdout:
            if line.strip() == b"unreadable":
                raise _unreadable(unreadable)
            number, cells = json.loads(line)
            yield number, cells
        if process.wait() != 0:
            raise _unreadable(unreadable)
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()


def xls_rows(content, limits):
    """``(row_number, cells)`` of an ``.xls`` file's first sheet (413 past the limits)."""
    rows, columns = xls_extent(workbook_stream(content))
    _check_size(limits, rows, columns)
    return _calamine_rows(content, NOT_XLS)


def ods_rows(content, limits, check_archive, bounded_zip):
    """``(row_number, cells)`` of an ``.ods`` file's first sheet (413 past the limits)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            check_archive(archive, limits)
        with bounded_zip(io.BytesIO(content), limits) as archive:
            with archive.open("content.xml") as source:
                rows, columns = ods_extent(source)
    except (PayloadTooLarge, UnsupportedMediaType):
        raise
    except Exception:  # a damaged ZIP or XML
        raise _unreadable(NOT_ODS) from None
    _check_size(limits, rows, columns)
    return _calamine_rows(content, NOT_ODS)
