"""A job's errors.csv: the failed rows as they were in the file, plus an ``error`` column."""
import csv
import io
import json

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from .. import spreadsheets
from .tables import ACTIVE, files_table, reports_table, rows_table


def errors_csv(conn, job):
    """The failed rows as they were in the file, plus an ``error`` column (UTF-8, BOM)."""
    errors = {row.row: json.loads(row.errors or "[]") for row in conn.execute(
        select(rows_table.c.row, rows_table.c.errors).where(rows_table.c.job_id == job.id)
        .where(rows_table.c.outcome == "error"))}
    content = conn.execute(select(files_table.c.content)
                           .where(files_table.c.job_id == job.id)).scalar()
    table = spreadsheets.open_table(bytes(content))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*table.header, "error"])
    width = len(table.header)
    for number, cells in table.rows():
        if number not in errors:
            continue
        cells = ["" if c is None else str(c) for c in cells]
        # Blank cells past the header (a formatted empty cell in Excel, a trailing ";;")
        # are dropped, so the error column lands under its header.
        while len(cells) > width and not cells[-1].strip():
            cells.pop()
        cells = (cells + [""] * width)[:max(width, len(cells))]
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors[number])
        writer.writerow(spreadsheets.neutralise_row([*cells, f"row {number}: {message}"]))
    return "\ufeff" + out.getvalue()


def errors_report(database, job, offset=0, length=None):
    """``(size, bytes)``: errors.csv as UTF-8 and the part of it from ``offset`` (at most
    ``length`` bytes; all of it without). Once the job is finished the report is made
    once and kept (making it parses the whole file), and a part is read from the
    database without the rest."""
    reports = reports_table
    with database.read() as conn:
        part = reports.c.content if length is None else \
            func.substr(reports.c.content, offset + 1, length)
        stored = conn.execute(select(func.length(reports.c.content), part)
                              .where(reports.c.job_id == job.id)).first()
        if stored is not None:
            return stored[0], bytes(stored[1] or b"")
        content = errors_csv(conn, job).encode("utf-8")
    if job.status not in ACTIVE:
        try:
            with database.write() as conn:
                conn.execute(insert(reports).values(job_id=job.id, content=content))
        except IntegrityError:
            pass  # another replica kept the same report first
    end = None if length is None else offset + length
    return len(content), content[offset:end]
