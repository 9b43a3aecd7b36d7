"""Reads the first sheet of an ``.xls`` or ``.ods`` workbook with calamine, in a child
process (``python -m services.contacts.workbook_reader``; see ``workbooks.py``).

calamine trusts the sizes a file declares: a damaged or hostile workbook can make it
ask for hundreds of GiB, and Rust then aborts the whole process, which no ``except``
catches. So it runs here, apart, under an address-space limit: the file's bytes come
on stdin, each row goes to stdout as one JSON line ``[row_number, [cells]]``, after a
first line ``ok``; ``unreadable`` (exit 3) when calamine refuses the file.
"""
import json
import resource
import sys
from datetime import date, datetime, time, timedelta

MEMORY_LIMIT = 1536 * 1024 * 1024  # address space, bytes


def _plain(value):
    if isinstance(value, (datetime, date, time)):
        if isinstance(value, datetime) and value.time() == time.min:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if value == "":
        return None
    return value


def main():
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else MEMORY_LIMIT
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    content = sys.stdin.buffer.read()
    out = sys.stdout
    try:
        import io

        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        sheet = book.get_sheet_by_index(0)
        start_row, start_column = sheet.start or (0, 0)
        rows = sheet.iter_rows()
    except Exception:  # calamine's errors for damaged files are of several kinds
        out.write("unreadable\n")
        out.flush()
        return 3
    out.write("ok\n")
    try:
        for offset, cells in enumerate(rows):
            line = [start_row + offset + 1, [None] * start_column + [_plain(c) for c in cells]]
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    except Exception:
        out.write("unreadable\n")
        out.flush()
        return 3
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
