"""One runner's pass over one import job, from its checkpoint to the end.

A batch is ONE transaction: the new clients' ``ClientRegistered`` and the changed
clients' ``ClientUpdated`` (made by the ``Client`` aggregate), their query-table rows,
each row's verdict, and the job's counters and checkpoint (the spreadsheet row number
of the batch's last row). So a job killed midway resumes after its checkpoint and never
writes a row twice. Every batch also renews the runner's lease on the job and commits
only while the runner still owns it (else :class:`LostLease`).
"""
import json
import logging
import time
import uuid

import eventlet
from eventlet.queue import LightQueue
from sqlalchemy import select, update

from services.common.context import CommandContext
from services.common.db import bulk_insert
from services.common.envelope import format_time, utc_now
from services.common.application import with_retries
from services.common.errors import ValidationFailed

from .. import queries, spreadsheets
from ..db import clients_table
from ..domain import Client
from ..schemas import validate_client
from ..validation import same_tax_id
from ..writes import append_clients
from . import presets
from .matching import id_holders, key_holders, load_clients, same_by_name, sole_name_holders
from .rows import RowChecker, row_errors, tax_key, without_blanks
from .tables import dumps, files_table, jobs, rows_table

log = logging.getLogger(__name__)

TAX_FIELDS = ("tax_id", "country", "address")
EXISTS = "a client with this tax id already exists"


class LostLease(Exception):
    """Another runner took the job over: this one stops without committing."""


class JobRun:
    """One runner's pass over one job (from its checkpoint to the end)."""

    def __init__(self, database, store, job_id, owner, batch_size, lease_seconds, pause=0.0,
                 should_stop=lambda: False, storage=None):
        self.storage = storage  # where photos go (a vCard's); None: photos are not kept
        self.pause = pause
        self.should_stop = should_stop
        self.db = database
        self.store = store
        self.job_id = job_id
        self.owner = owner
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds

    def _owned(self, conn, **values):
        """Update the job only while this runner owns it (else ``LostLease``)."""
        result = conn.execute(update(jobs).where(jobs.c.id == self.job_id)
                              .where(jobs.c.owner == self.owner)
                              .values(lease_until=time.time() + self.lease_seconds, **values))
        if result.rowcount != 1:
            raise LostLease(self.job_id)

    def run(self):
        with self.db.read() as conn:
            job = conn.execute(select(jobs).where(jobs.c.id == self.job_id)).first()
            content = conn.execute(select(files_table.c.content)
                                   .where(files_table.c.job_id == self.job_id)).scalar()
        self.ctx = CommandContext(job.workspace, job.actor, job.correlation_id)
        self.mode = job.mode
        self.dry_run = job.dry_run
        self.keep_blanks = (job.blank_cells or "clear") == "keep"
        table = spreadsheets.open_table(bytes(content))
        columns = presets.columns_for(table, json.loads(job.mapping) if job.mapping else None,
                                      json.loads(job.columns or "{}").get("preset"))
        if job.total is None:
            total = table.count if table.count is not None else \
                sum(1 for _ in table.rows())
            with self.db.write() as conn:
                self._owned(conn, total=total)
        checkpoint = job.checkpoint
        checker = RowChecker(self.mode, self.batch_size)
        if checkpoint > 1:
            checker.replay(table, columns, checkpoint, self._failed_rows())
        # Two stages: this green thread checks the rows of the next batch (CPU) while
        # the writer waits for the database to commit the previous one.
        prepared = LightQueue(maxsize=2)
        preparer = eventlet.spawn(checker.prepare_all, table, columns, checkpoint, prepared)
        try:
            while True:
                item = prepared.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                self._commit(item)
                if self.should_stop():
                    self._release(item.last_row)
                    return
                eventlet.sleep(self.pause)
        finally:
            preparer.kill()
        with self.db.write() as conn:
            self._owned(conn, status="done", finished_at=format_time(utc_now()), owner=None)

    def _failed_rows(self):
        """The rows already refused (their tax ids were never imported)."""
        with self.db.read() as conn:
            return set(conn.execute(select(rows_table.c.row)
                                    .where(rows_table.c.job_id == self.job_id)
                                    .where(rows_table.c.outcome == "error")).scalars())

    def _release(self, checkpoint):
        """Hand the job back after a batch when the service stops: still ``running``,
        with no owner, so the next runner to look (any replica, or this one restarted)
        resumes it from its checkpoint at once rather than when the lease runs out."""
        with self.db.write() as conn:
            conn.execute(update(jobs).where(jobs.c.id == self.job_id)
                         .where(jobs.c.owner == self.owner)
                         .values(owner=None, lease_until=None))
        log.info("contacts: import %s handed back after row %s", self.job_id, checkpoint)

    def _commit(self, prepared):
        with_retries(lambda: self._write_batch(prepared))

    def _add_photo(self, client, photo, staged):
        """Give ``client`` the row's photo (its blob staged, moved into place just before
        the batch commits): for a new client, or one that has none yet."""
        if photo is None or self.storage is None or client.photo is not None:
            return False
        content_type, content = photo
        client.change_photo(content_type, len(content))
        if not self.dry_run:
            target = self.storage.photo_path(client.id)
            staged.append((self.storage.stage(content, target), target))
        return True

    def _write_batch(self, prepared):
        staged = []
        try:
            self._write_rows(prepared, staged)
        finally:
            for path, _ in staged:
                self.storage.discard(path)

    def _write_rows(self, prepared, staged):
        ctx = self.ctx
        verdicts = dict(prepared.verdicts)
        candidates, ids = prepared.candidates, prepared.ids
        occurred_at = format_time(utc_now())
        with self.db.write() as conn:
            tkeys = [c[3] for c in candidates if c[3]]
            queries.lock_tax_numbers(conn, ctx.workspace, tkeys)
            tax_holders = queries.tax_id_holders(conn, ctx.workspace, tkeys)
            email_holders, name_holders = {}, {}
            if self.mode == "upsert":
                email_holders = key_holders(conn, ctx.workspace, "email",
                                            [c[4] for c in candidates if c[4]])
                name_holders = sole_name_holders(conn, ctx.workspace,
                                                 [c[5] for c in candidates if c[5]])
            matched, by_email, by_name = {}, set(), set()
            known = id_holders(conn, ctx.workspace, ids.values())
            for number, data, fields, tkey, ekey, nkey in candidates:
                if ids.get(number) in known:
                    matched[number] = ids[number]
                elif tkey and tkey in tax_holders:
                    if self.mode == "create":
                        verdicts[number] = ("error", tax_holders[tkey],
                                            [{"field": "tax_id", "message": EXISTS}], None, None)
                        continue
                    matched[number] = tax_holders[tkey]
                elif ekey and ekey in email_holders:
                    matched[number] = email_holders[ekey]
                    by_email.add(number)
                elif nkey and nkey in name_holders:
                    matched[number] = name_holders[nkey]
                    by_name.add(number)
            clients = load_clients(conn, matched.values())
            if matched and conn.dialect.name == "postgresql":
                conn.execute(select(clients_table.c.id)
                             .where(clients_table.c.id.in_(sorted(set(matched.values()))))
                             .order_by(clients_table.c.id).with_for_update())
            touched = {}
            for number, data, fields, tkey, ekey, nkey in candidates:
                if number in verdicts:
                    continue
                client = clients.get(matched.get(number))
                if client is not None and number in by_name and not same_by_name(
                        fields, client.state()):
                    client = None
                if client is not None and tkey and number in by_email \
                        and tax_key(client.state()) is not None \
                        and not same_tax_id(tax_key(client.state()), tkey):
                    client = None  # matched by email, but it has another tax id: a new one
                if client is None or client.archived or client.workspace != ctx.workspace:
                    # The row's client id comes from the job and the row: a batch
                    # written again names the same client.
                    client = Client(str(uuid.uuid5(uuid.UUID(self.job_id), str(number))))
                    client.register(ctx.workspace, fields, occurred_at)
                    self._add_photo(client, prepared.photos.get(number), staged)
                    touched[client.id] = (client, 0, True)
                    verdicts[number] = ("created", client.id, None, None, None)
                    continue
                verdict = self._update(conn, client, data, tkey, tax_holders)
                if verdict[0] != "error" and self._add_photo(
                        client, prepared.photos.get(number), staged) and verdict[0] == "unchanged":
                    verdict = ("updated", client.id, None, {}, {})
                verdicts[number] = verdict
                if client.id not in touched:
                    touched[client.id] = (client, client.version, False)
            appended = []
            if not self.dry_run:
                appended = append_clients(self.store, conn, ctx, touched, occurred_at)
            counts = {"created": 0, "updated": 0, "unchanged": 0, "error": 0}
            written = {}
            rows = []
            for number, (outcome, client_id, errors, changes, previous) in sorted(
                    verdicts.items()):
                counts[outcome] += 1
                rows.append((self.job_id, number, outcome, client_id,
                             dumps(errors) if errors else None,
                             dumps(changes) if changes is not None else None,
                             dumps(previous) if previous is not None else None))
            bulk_insert(conn, rows_table, ("job_id", "row", "outcome", "client_id", "errors",
                                           "changes", "previous"), rows)
            if appended:
                written["position"] = max(envelope.position for envelope in appended)
            self._owned(conn, checkpoint=prepared.last_row, **written,
                        processed=jobs.c.processed + prepared.size,
                        created=jobs.c.created + counts["created"],
                        updated=jobs.c.updated + counts["updated"],
                        unchanged=jobs.c.unchanged + counts["unchanged"],
                        failed=jobs.c.failed + counts["error"])
            while staged:  # the last step before the commit: a blob without its event
                path, target = staged.pop()  # is overwritten when the batch is redone
                self.storage.commit(path, target)

    def _update(self, conn, client, data, tkey, tax_holders):
        """Apply one row to an existing client: its verdict."""
        if self.keep_blanks:
            data = without_blanks(data)
        try:
            values = validate_client(data, partial=True, current=client.state())
        except ValidationFailed as exc:
            return ("error", client.id, row_errors(exc.errors), None, None)
        before = client.state()
        after = {**before, **values}
        if any(name in values for name in TAX_FIELDS) and tax_key(after) != tax_key(before):
            key = tax_key(after)
            holder = tax_holders.get(key) if key else None
            if holder is None and key:
                holder = queries.tax_id_holder(conn, self.ctx.workspace, after,
                                               exclude=[client.id])
            if holder and holder != client.id:
                return ("error", holder, [{"field": "tax_id", "message": EXISTS}], None, None)
        if not client.update(values):
            return ("unchanged", client.id, None, None, None)
        data = client.pending[-1].data
        return ("updated", client.id, None, data["changes"], data["previous"])
