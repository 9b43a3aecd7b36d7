"""Import jobs over RPC (see docs/imports.md)."""
import base64
import json

from sqlalchemy import insert, select

from services.common.context import CommandContext
from services.common.envelope import format_time, utc_now
from services.common.errors import BadRequest, ValidationFailed
from services.common.rpc import rpc

from .. import spreadsheets
from ..client.limits import PART_BYTES, import_max_bytes
from ..uploads import check_range, read_content, take_upload
from . import presets
from .report import errors_report
from .revert import revert
from .rows import parse_flag, parse_mapping
from .tables import (column_fields, dumps, files_table, find_job, job_record, jobs,
                     list_record, rows_table)

MODES = ("create", "upsert")
BLANK_CELLS = ("keep", "clear")  # what an upsert does with a blank cell of a known column


class ClientImportsRpc:
    """Mixin of ``ContactsService``: import jobs over RPC. Uses the service's ``store``,
    ``config`` and ``import_runner`` dependencies."""

    @rpc
    def start_import(self, ctx, file_name, data, mode="create", dry_run=False, mapping=None,
                     blank_cells="keep", preset=None):
        """Check the file (413/415/422 at once) and queue a job: the job record.
        ``blank_cells``: whether a blank cell in ``upsert`` keeps (default) or clears the
        stored value. ``preset``: the CRM whose export the file is (``presets.NAMES``);
        without one the headers decide (the job's ``preset`` says which was taken)."""
        ctx = CommandContext.load(ctx)
        answered = self.store.recorded(ctx, "start_import")
        if answered is not None:  # a repeat: the upload's parts were taken by the first run
            return answered
        content = read_content(self.store.db, ctx.workspace, data, import_max_bytes(self.config))
        errors = {}
        if mode not in MODES:
            errors["mode"] = ["must be create or upsert"]
        blank_cells = blank_cells or "keep"
        if blank_cells not in BLANK_CELLS:
            errors["blank_cells"] = ["must be keep or clear"]
        try:
            dry_run = parse_flag(dry_run, "dry_run")
        except ValidationFailed as exc:
            errors.update(exc.errors)
        if errors:
            raise ValidationFailed("some fields are invalid", errors)
        preset = presets.check_preset(preset)
        mapping = parse_mapping(mapping)
        table = spreadsheets.open_table(content, file_name)
        columns = presets.columns_for(table, mapping, preset)
        job_id = ctx.new_id("import")
        name = str(file_name or "import")[:255]

        def work(uow):
            conn = uow.conn
            conn.execute(insert(jobs).values(
                id=job_id, workspace=ctx.workspace, actor=ctx.actor,
                correlation_id=ctx.correlation_id, status="queued", mode=mode,
                dry_run=dry_run, mapping=dumps(mapping) if mapping else None,
                blank_cells=blank_cells,
                file_name=name, format=table.format,
                columns=dumps({"unknown": columns.unknown, "ignored": columns.ignored,
                               "fields": column_fields(table.header, columns),
                               "preset": columns.preset}),
                total=None, processed=0, checkpoint=1, created=0, updated=0, unchanged=0,
                failed=0, created_at=format_time(utc_now())))
            take_upload(conn, ctx.workspace, data)
            conn.execute(insert(files_table).values(job_id=job_id, content=content))
            return job_record(conn, conn.execute(select(jobs).where(jobs.c.id == job_id))
                              .first())

        record = self.store.execute(ctx, "start_import", work)
        self.import_runner.wake()
        return record

    @rpc
    def get_import(self, ctx, job_id):
        """The job: status, counters, errors (at most 1000, by row)."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            return job_record(conn, find_job(conn, ctx.workspace, job_id))

    @rpc
    def import_rows(self, ctx, job_id, after_row=None, limit=500):
        """Each row's verdict, in row order: ``{"items": [{"row", "outcome",
        "client_id", "errors", "changes"}], "next_cursor"}`` (dry runs included)."""
        ctx = CommandContext.load(ctx)
        errors = {}
        for name, value in (("cursor", after_row), ("limit", limit)):
            try:
                int(value or 0)
            except (TypeError, ValueError):
                errors[name] = ["must be a whole number"]
        if errors:
            raise BadRequest("'cursor' and 'limit' must be whole numbers", errors)
        after = int(after_row or 0)
        limit = max(1, min(int(limit or 500), 500))
        with self.store.db.read() as conn:
            job = find_job(conn, ctx.workspace, job_id)
            rows = conn.execute(select(rows_table).where(rows_table.c.job_id == job.id)
                                .where(rows_table.c.row > after).order_by(rows_table.c.row)
                                .limit(limit + 1)).all()
        items = [{"row": r.row, "outcome": r.outcome, "client_id": r.client_id,
                  "errors": json.loads(r.errors) if r.errors else [],
                  "changes": json.loads(r.changes) if r.changes else None}
                 for r in rows[:limit]]
        more = len(rows) > limit
        return {"items": items, "next_cursor": str(items[-1]["row"]) if more else None}

    @rpc
    def import_errors_csv(self, ctx, job_id):
        """The failed rows as CSV text with an added ``error`` column (in one message:
        a large report does not fit on every broker, see ``read_import_errors``)."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            job = find_job(conn, ctx.workspace, job_id)
        return errors_report(self.store.db, job)[1].decode("utf-8")

    @rpc
    def read_import_errors(self, ctx, job_id, offset=0, length=PART_BYTES):
        """errors.csv in parts: ``{"size", "offset", "data"}`` (base64 of at most
        ``length`` bytes of the UTF-8 file from ``offset``). While the job runs the
        report only grows at its end, so parts read up to the first part's ``size``
        fit together."""
        ctx = CommandContext.load(ctx)
        check_range(offset, length)
        with self.store.db.read() as conn:
            job = find_job(conn, ctx.workspace, job_id)
        size, part = errors_report(self.store.db, job, offset, length)
        return {"size": size, "offset": offset,
                "data": base64.b64encode(part).decode("ascii")}

    @rpc
    def revert_import(self, ctx, job_id):
        """Archive what the job created, restore what it changed (as events)."""
        ctx = CommandContext.load(ctx)
        return revert(self.store, ctx, job_id)

    @rpc
    def import_again(self, ctx, job_id, mode="create", dry_run=False, mapping=None,
                     blank_cells="keep"):
        """A new job on the file of an earlier job of the workspace (a preview run for
        real, or previewed again with another mapping): the job record, as
        ``start_import`` answers it. The file is not sent again."""
        loaded = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            job = find_job(conn, loaded.workspace, job_id)
            content = conn.execute(select(files_table.c.content)
                                   .where(files_table.c.job_id == job.id)).scalar()
        return self.start_import(ctx, job.file_name, base64.b64encode(bytes(content))
                                 .decode("ascii"), mode, dry_run, mapping, blank_cells)

    @rpc
    def list_imports(self, ctx, limit=25, cursor=None, previews=False):
        """The workspace's jobs, newest first, with who started each: ``{"items",
        "next_cursor"}`` (records without their errors; dry runs only with
        ``previews``)."""
        ctx = CommandContext.load(ctx)
        try:
            limit = max(1, min(int(limit or 25), 100))
        except (TypeError, ValueError):
            raise BadRequest("'limit' must be a whole number",
                             {"limit": ["must be a whole number"]}) from None
        query = select(jobs).where(jobs.c.workspace == ctx.workspace)
        if not previews:
            query = query.where(jobs.c.dry_run.is_(False))
        if cursor:
            created_at, _, last_id = str(cursor).partition("|")
            query = query.where((jobs.c.created_at < created_at) | (
                (jobs.c.created_at == created_at) & (jobs.c.id < last_id)))
        with self.store.db.read() as conn:
            rows = conn.execute(query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
                                .limit(limit + 1)).all()
            items = [list_record(conn, row) for row in rows[:limit]]
        more = len(rows) > limit
        last = rows[limit - 1] if more else None
        return {"items": items,
                "next_cursor": f"{last.created_at}|{last.id}" if last is not None else None}
