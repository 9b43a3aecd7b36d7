"""The import jobs' tables, and a job as the RPC answers it."""
import json

from sqlalchemy import (BigInteger, Boolean, Column, Float, Integer, LargeBinary, MetaData,
                        String, Table, Text, select)

from services.common.errors import NotFound

from ..writes import canonical_uuid

MAX_ERRORS_SHOWN = 1000
ACTIVE = ("queued", "running")

metadata = MetaData()

jobs_table = Table(
    "import_jobs", metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("actor", String(200)),
    Column("correlation_id", String(100)),
    Column("status", String(10), nullable=False),
    Column("mode", String(10), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("mapping", Text),
    Column("file_name", String(255)),
    Column("format", String(10), nullable=False),
    Column("columns", Text),
    Column("total", Integer),
    Column("processed", Integer, nullable=False),
    Column("checkpoint", Integer, nullable=False),
    Column("created", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("owner", String(64)),
    Column("lease_until", Float),
    Column("error", Text),
    Column("created_at", String(32), nullable=False),
    Column("started_at", String(32)),
    Column("finished_at", String(32)),
    Column("reverted_at", String(32)),
    Column("position", BigInteger),  # of the last event the job appended
    Column("blank_cells", String(5)),  # keep | clear; null (older jobs): clear
)

files_table = Table(
    "import_job_files", metadata,
    Column("job_id", String(36), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

reports_table = Table(  # errors.csv of a finished job, made once (UTF-8 bytes)
    "import_job_reports", metadata,
    Column("job_id", String(36), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

rows_table = Table(
    "import_job_rows", metadata,
    Column("job_id", String(36), primary_key=True),
    Column("row", Integer, primary_key=True, autoincrement=False),
    Column("outcome", String(10), nullable=False),
    Column("client_id", String(36)),
    Column("errors", Text),
    Column("changes", Text),
    Column("previous", Text),
)

jobs = jobs_table


def dumps(value):
    """Compact JSON text, accents kept, as the job tables store it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def job_record(conn, row, with_errors=True):
    """The job as the RPC answers it (with its first errors, by row)."""
    columns = json.loads(row.columns or "{}")
    record = {
        "id": row.id, "status": row.status, "mode": row.mode, "dry_run": row.dry_run,
        "blank_cells": row.blank_cells or "clear",
        "file_name": row.file_name, "format": row.format,
        "total": row.total, "processed": row.processed, "created": row.created,
        "updated": row.updated, "unchanged": row.unchanged, "failed": row.failed,
        "unknown_columns": columns.get("unknown", []),
        "ignored_columns": columns.get("ignored", []),
        "columns": [{"header": header, "field": field}
                    for header, field in columns.get("fields", [])],
        "mapping": json.loads(row.mapping) if row.mapping else None,
        "preset": columns.get("preset"),
        "created_at": row.created_at, "started_at": row.started_at,
        "finished_at": row.finished_at, "reverted_at": row.reverted_at,
        # Not part of the job's JSON: the gateway answers it as a Consistency-Token.
        "position": row.position or 0,
    }
    if row.error:
        record["error"] = row.error
    if with_errors:
        errors = []
        for item in conn.execute(
                select(rows_table.c.row, rows_table.c.errors)
                .where(rows_table.c.job_id == row.id).where(rows_table.c.outcome == "error")
                .order_by(rows_table.c.row).limit(MAX_ERRORS_SHOWN)):
            for error in json.loads(item.errors or "[]"):
                errors.append({"row": item.row, **error})
        record["errors"] = errors
        record["errors_truncated"] = row.failed > MAX_ERRORS_SHOWN
    return record


def column_fields(header, columns):
    """``[[header, field or None]]`` of each titled column, in the file's order: which
    field each column fills (``None``: not imported), as a preview shows it."""
    used = dict(columns.fields)
    return [[title, used.get(index)] for index, title in enumerate(header)
            if title is not None and str(title).strip()]


def list_record(conn, row):
    """A job as a list of jobs shows it: its record without errors, and who started it."""
    return {**job_record(conn, row, with_errors=False), "actor": row.actor}


def find_job(conn, workspace, job_id):
    """The job's row; ``NotFound`` unless it is one of ``workspace``."""
    key = canonical_uuid(job_id)
    row = conn.execute(select(jobs).where(jobs.c.id == key)
                       .where(jobs.c.workspace == workspace)).first() if key else None
    if row is None:
        raise NotFound("no such import")
    return row
