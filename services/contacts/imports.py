"""Bulk import of clients from a spreadsheet, as resumable jobs.

A job is created by ``start_import`` (the file is checked at once: 413 too large, 415
not CSV/XLSX, 422 empty or without a recognisable header) and run by the
:class:`ImportRunner` of whichever contacts replica claims it first.

How a job runs
--------------
- Rows are read in file order and handled in batches (``IMPORT_BATCH_SIZE``, default
  500). Each row is validated with ``validate_client``; in ``upsert`` mode it is matched
  to an existing client by normalised tax id (``tax_id_key``), then by email, and a row
  with neither by its folded name when exactly one client has that name and it too has
  no tax id or email (and no other country): else a file of names alone would double
  on re-import. A blank cell of a matched row keeps the stored value unless the job
  says ``blank_cells="clear"`` (a file of some columns, half filled, must not erase
  what the clients already have).
- A batch is ONE transaction: the new clients' ``ClientRegistered`` and the changed
  clients' ``ClientUpdated`` (made by the service's own ``Client`` aggregate), their
  query-table rows (built with the service's projection helpers), each row's verdict,
  and the job's counters and checkpoint (the spreadsheet row number of the batch's
  last row). So a job killed midway resumes after its checkpoint and never writes a
  row twice.
- A runner claims a job with a conditional UPDATE of ``owner``/``lease_until``; every
  batch renews the lease in its own transaction and only commits while the runner
  still owns the job. A lease that runs out (the process died) lets another runner,
  or the same service once restarted, take the job over from its checkpoint; a service
  that stops gracefully hands its job back after the batch under way, so another
  replica resumes it at once.
- Between batches the runner yields to the other green threads.

``revert_import`` undoes a finished job as events: the clients it created are
archived, and the fields it changed get their previous values back (``ClientUpdated``)
unless they were changed again since.
"""
import base64
import csv
import io
import json
import logging
import time
import uuid
from dataclasses import dataclass

import eventlet
from eventlet.event import Event
from eventlet.queue import LightQueue
from nameko.extensions import DependencyProvider
from sqlalchemy import (BigInteger, Boolean, Column, Float, Integer, LargeBinary, MetaData,
                        String, Table, Text, bindparam, delete, false, func, insert, or_,
                        select, update)
from sqlalchemy.exc import IntegrityError

from services.common.config import database_url
from services.common.context import CommandContext
from services.common.db import bulk_insert, get_database
from services.common.envelope import format_time, utc_now
from services.common.errors import (BadRequest, ConcurrencyError, Conflict, NotFound,
                                    ValidationFailed)
from services.common.eventstore import EventStore, StreamAppend, events_table
from services.common.extensions import stop_within
from services.common.rpc import rpc

from . import queries, spreadsheets
from .db import client_match_keys_table, client_tags_table, clients_table
from .domain import Client, unmerge_reverts
from .schemas import validate_client
from .uploads import PART_BYTES, check_range, read_content, take_upload
from .validation import (client_country, email_key, fold_name, same_tax_id, search_text,
                         tax_id_key, tax_number)

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 50 * MiB
DEFAULT_BATCH_SIZE = 500
DEFAULT_LEASE_SECONDS = 30.0
POLL_SECONDS = 1.0
BATCH_PAUSE = 0.0  # seconds slept between batches (besides yielding)
MAX_ATTEMPTS = 5
CHECK_SLICE = 25  # rows checked between two yields to the writer (about 3 ms)
MAX_ERRORS_SHOWN = 1000
MODES = ("create", "upsert")
BLANK_CELLS = ("keep", "clear")  # what an upsert does with a blank cell of a known column
ACTIVE = ("queued", "running")
TAX_FIELDS = ("tax_id", "country", "address")
EXISTS = "a client with this tax id already exists"

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


@dataclass
class PreparedBatch:
    """A batch of rows checked and ready to write (see ``JobRun._prepare``)."""
    last_row: int  # the spreadsheet row number of its last row: the next checkpoint
    size: int
    verdicts: dict  # rows already decided (errors): row -> verdict
    candidates: list  # (row, data, fields, tax key, email key, name key) of the valid rows
    ids: dict  # row -> client id given in the file (upsert)


class LostLease(Exception):
    """Another runner took the job over: this one stops without committing."""


def _dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _uuid(value):
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None


def _bool(value, name):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0",
                                                             "no", ""):
        return value.strip().lower() in ("true", "1", "yes")
    if value is None:
        return False
    raise ValidationFailed("some fields are invalid", {name: ["must be true or false"]})


def parse_mapping(mapping):
    if mapping is None or mapping == "":
        return None
    if isinstance(mapping, str):
        try:
            mapping = json.loads(mapping)
        except ValueError:
            raise ValidationFailed("some fields are invalid", {
                "mapping": ["must be a JSON object: column header -> field path"]}) from None
    return spreadsheets.check_mapping(mapping)


def max_bytes(config):
    return int(config.get("IMPORT_MAX_BYTES") or DEFAULT_MAX_BYTES)


def row_errors(errors):
    """``{"field": [messages]}`` -> ``[{"field", "message"}]``."""
    return [{"field": field, "message": message}
            for field, messages in errors.items()
            for message in (messages if isinstance(messages, list) else [messages])]


def tax_key(fields):
    key = tax_id_key(fields.get("tax_id"), client_country(fields))
    return key[:300] if key else None


# -- the job record ----------------------------------------------------------------------

def job_record(conn, row, with_errors=True):
    columns = json.loads(row.columns or "{}")
    record = {
        "id": row.id, "status": row.status, "mode": row.mode, "dry_run": row.dry_run,
        "blank_cells": row.blank_cells or "clear",
        "file_name": row.file_name, "format": row.format,
        "total": row.total, "processed": row.processed, "created": row.created,
        "updated": row.updated, "unchanged": row.unchanged, "failed": row.failed,
        "unknown_columns": columns.get("unknown", []),
        "ignored_columns": columns.get("ignored", []),
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


def _find_job(conn, workspace, job_id):
    key = _uuid(job_id)
    row = conn.execute(select(jobs).where(jobs.c.id == key)
                       .where(jobs.c.workspace == workspace)).first() if key else None
    if row is None:
        raise NotFound("no such import")
    return row


# -- projection of a batch -------------------------------------------------------------

def project_batch(conn, items, occurred_at):
    """The query tables after a batch: ``items`` = [(client, version_before, events,
    is_new)]. The same rows ``queries.project`` writes, in a few bulk statements."""
    new_rows, changed_rows, tag_rows, key_rows, existing = [], [], [], [], []
    for client, version, events, is_new in items:
        last = version + len(events)
        updated_at = client.created_at if last == 1 else occurred_at
        record = queries.client_record(client, last, updated_at)
        row = queries.row_values(record, client.workspace)
        if is_new:
            new_rows.append(row)
        else:
            existing.append(client.id)
            changed_rows.append({**{k: v for k, v in row.items() if k != "id"},
                                 "_id": client.id})
        folded = {search_text(tag)[:100] for tag in record["tags"]}
        folded.discard("")
        tag_rows.extend((client.id, tag, client.workspace) for tag in sorted(folded))
        if not record["archived"]:
            key_rows.extend((client.id, kind, client.workspace, key)
                            for kind, key in queries.match_keys(record).items())
    if new_rows:
        names = tuple(new_rows[0])
        bulk_insert(conn, clients_table, names, [tuple(row[n] for n in names)
                                                 for row in new_rows])
    if changed_rows:
        names = [name for name in changed_rows[0] if name != "_id"]
        conn.execute(update(clients_table).where(clients_table.c.id == bindparam("_id"))
                     .values({name: bindparam(name) for name in names}), changed_rows)
    for start in range(0, len(existing), 500):
        chunk = existing[start:start + 500]
        conn.execute(delete(client_tags_table).where(client_tags_table.c.client_id.in_(chunk)))
        conn.execute(delete(client_match_keys_table)
                     .where(client_match_keys_table.c.client_id.in_(chunk)))
    bulk_insert(conn, client_tags_table, ("client_id", "tag", "workspace"), tag_rows)
    bulk_insert(conn, client_match_keys_table, ("client_id", "kind", "workspace", "key"),
                key_rows)


def load_clients(conn, client_ids):
    """``{id: Client}`` rebuilt from their streams, in a few queries."""
    streams = {}
    ids = sorted(set(client_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in conn.execute(select(events_table.c.stream_id, events_table.c.type,
                                       events_table.c.stream_version, events_table.c.data)
                                .where(events_table.c.stream_id.in_(chunk))
                                .order_by(events_table.c.stream_id,
                                          events_table.c.stream_version)):
            streams.setdefault(row.stream_id, []).append(row)
    found = {}
    for client_id, rows in streams.items():
        client = Client(client_id)
        for row in rows:
            client._apply(row.type, json.loads(row.data))
            client.version = row.stream_version
        found[client_id] = client
    return found


def key_holders(conn, workspace, kind, keys):
    """``{key: client_id}`` of non-archived clients holding each key (lowest id wins)."""
    table = client_match_keys_table
    found = {}
    keys = sorted(set(keys))
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for row in conn.execute(select(table.c.key, table.c.client_id)
                                .where(table.c.workspace == workspace)
                                .where(table.c.kind == kind).where(table.c.key.in_(chunk))
                                .order_by(table.c.client_id)):
            found.setdefault(row.key, row.client_id)
    return found


def _same_by_name(fields, held):
    """A row with a client's name alone is that client only if the client too is known
    by its name alone (no tax id, no email: the row must not match, then blank out, a
    client known by them) and is not in another country."""
    if held.get("tax_id") or held.get("email"):
        return False
    country, held_country = client_country(fields), client_country(held)
    return not (country and held_country and country != held_country)


def sole_name_holders(conn, workspace, names):
    """``{folded name: client_id}`` for the names exactly one non-archived client has."""
    table = client_match_keys_table
    found = {}
    names = sorted(set(names))
    for start in range(0, len(names), 500):
        chunk = names[start:start + 500]
        for row in conn.execute(select(table.c.key, func.min(table.c.client_id))
                                .where(table.c.workspace == workspace)
                                .where(table.c.kind == "name").where(table.c.key.in_(chunk))
                                .group_by(table.c.key).having(func.count() == 1)):
            found[row[0]] = row[1]
    return found


def without_blanks(data):
    """A row's values without its blank cells (``None``), nested ones included: what an
    upsert changes when blank cells keep the stored values."""
    kept = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = {name: inner for name, inner in value.items() if inner is not None}
            if not value:
                continue
        elif value is None:
            continue
        kept[key] = value
    return kept


def id_holders(conn, workspace, client_ids):
    """Those of ``client_ids`` that are non-archived clients of ``workspace``."""
    ids = sorted(set(client_ids))
    found = set()
    for start in range(0, len(ids), 500):
        found.update(conn.execute(select(clients_table.c.id)
                                  .where(clients_table.c.workspace == workspace)
                                  .where(clients_table.c.archived == false())
                                  .where(clients_table.c.id.in_(ids[start:start + 500])))
                     .scalars())
    return found


def append_clients(store, conn, ctx, touched, occurred_at):
    """Project then append the pending events of ``touched`` ({id: (client, version,
    is_new)}) in one batch."""
    items, appends = [], []
    for client, version, is_new in touched.values():
        events = client.collect()
        if not events:
            continue
        items.append((client, version, events, is_new))
        appends.append(StreamAppend(client.id, version, events, ctx.workspace, ctx.actor,
                                    ctx.correlation_id))
    if not items:
        return []
    project_batch(conn, items, occurred_at)
    return store.append_batch(appends, conn=conn)


# -- running a job -----------------------------------------------------------------------

class JobRun:
    """One runner's pass over one job (from its checkpoint to the end)."""

    def __init__(self, database, store, job_id, owner, batch_size, lease_seconds, pause=0.0,
                 should_stop=lambda: False):
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
        columns = spreadsheets.match_headers(table.header,
                                             json.loads(job.mapping) if job.mapping else None)
        if job.total is None:
            total = sum(1 for _ in table.rows())
            with self.db.write() as conn:
                self._owned(conn, total=total)
        checkpoint = job.checkpoint
        self.seen = {}  # tax id number -> [(key, row)] of the file's rows so far
        if checkpoint > 1:
            self._replay_seen(table, columns, checkpoint)
        # Two stages: this green thread checks the rows of the next batch (CPU) while
        # the writer waits for the database to commit the previous one.
        prepared = LightQueue(maxsize=2)
        preparer = eventlet.spawn(self._prepare_all, table, columns, checkpoint, prepared)
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

    def _release(self, checkpoint):
        """Hand the job back after a batch when the service stops: still ``running``,
        with no owner, so the next runner to look (any replica, or this one restarted)
        resumes it from its checkpoint at once rather than when the lease runs out."""
        with self.db.write() as conn:
            conn.execute(update(jobs).where(jobs.c.id == self.job_id)
                         .where(jobs.c.owner == self.owner)
                         .values(owner=None, lease_until=None))
        log.info("contacts: import %s handed back after row %s", self.job_id, checkpoint)

    def _replay_seen(self, table, columns, checkpoint):
        """The tax ids of the rows already imported (in-file duplicates stay errors)."""
        with self.db.read() as conn:
            failed = set(conn.execute(select(rows_table.c.row)
                                      .where(rows_table.c.job_id == self.job_id)
                                      .where(rows_table.c.outcome == "error")).scalars())
        for number, cells in table.rows():
            if number > checkpoint:
                break
            if number in failed:
                continue
            key = tax_key(spreadsheets.row_to_client(columns, cells))
            if key:
                self._saw(key, number)

    def _saw(self, key, row):
        self.seen.setdefault(tax_number(key), []).append((key, row))

    def _seen_row(self, key):
        """The first row of the file with the same tax id as ``key`` (``same_tax_id``:
        a row without a country and one with it count as the same), or ``None``."""
        for other, row in self.seen.get(tax_number(key), ()):
            if same_tax_id(key, other):
                return row
        return None

    def _prepare_all(self, table, columns, checkpoint, prepared):
        """Read and check the rows after ``checkpoint``, a batch at a time, into
        ``prepared``; then ``None`` (or the exception that stopped it)."""
        try:
            batch = []
            for number, cells in table.rows():
                if number <= checkpoint:
                    continue
                batch.append((number, spreadsheets.row_to_client(columns, cells)))
                if len(batch) >= self.batch_size:
                    prepared.put(self._prepare(batch))
                    batch = []
            if batch:
                prepared.put(self._prepare(batch))
            prepared.put(None)
        except Exception as exc:  # handed to the writer, which fails the job
            prepared.put(exc)

    def _prepare(self, batch):
        """Validate a batch's rows (no I/O): a :class:`PreparedBatch`. Rows whose tax id
        an earlier row of the file has are errors (in-file duplicates)."""
        verdicts = {}  # row -> (outcome, client_id, errors, changes, previous)
        candidates = []
        ids = {}
        for index, (number, data) in enumerate(batch):
            if index % CHECK_SLICE == CHECK_SLICE - 1:
                # Let the writer go on as soon as its statement is answered: checking a
                # whole batch at once (60-90 ms) held it that long after each reply.
                eventlet.sleep(0)
            row_id = _uuid(data.pop("id", None)) if self.mode == "upsert" else None
            data.pop("id", None)
            problem = data.pop(spreadsheets.EXTRA_CELLS, None)
            if problem:  # more cells than the header: an unquoted separator, most likely
                verdicts[number] = ("error", None, [{"field": "row", "message": problem}],
                                    None, None)
                continue
            try:
                fields = validate_client(data)
            except ValidationFailed as exc:
                verdicts[number] = ("error", None, row_errors(exc.errors), None, None)
                continue
            tkey = tax_key(fields)
            earlier = self._seen_row(tkey) if tkey else None
            if earlier:
                verdicts[number] = ("error", None, [{
                    "field": "tax_id",
                    "message": f"this tax id is already in row {earlier} of the file"}],
                    None, None)
                continue
            if tkey:
                self._saw(tkey, number)
            ekey = email_key(fields.get("email"))
            nkey = fold_name(fields.get("name")) if not (tkey or ekey) else None
            candidates.append((number, data, fields, tkey, ekey, nkey or None))
            if row_id:
                ids[number] = row_id
        return PreparedBatch(batch[-1][0], len(batch), verdicts, candidates, ids)

    def _commit(self, prepared):
        for attempt in range(MAX_ATTEMPTS):
            try:
                self._write_batch(prepared)
                return
            except (ConcurrencyError, IntegrityError):
                if attempt + 1 == MAX_ATTEMPTS:
                    raise
                log.info("contacts: import %s: batch conflicted, retrying", self.job_id)
                eventlet.sleep(0.05 * (attempt + 1))

    def _write_batch(self, prepared):
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
                if client is not None and number in by_name and not _same_by_name(
                        fields, client.state()):
                    client = None
                if client is not None and tkey and number in by_email \
                        and tax_key(client.state()) is not None \
                        and not same_tax_id(tax_key(client.state()), tkey):
                    client = None  # matched by email, but it has another tax id: a new one
                if client is None or client.archived or client.workspace != ctx.workspace:
                    client = Client(str(uuid.uuid4()))
                    client.register(ctx.workspace, fields, occurred_at)
                    touched[client.id] = (client, 0, True)
                    verdicts[number] = ("created", client.id, None, None, None)
                    continue
                verdicts[number] = self._update(conn, client, data, tkey, tax_holders)
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
                             _dumps(errors) if errors else None,
                             _dumps(changes) if changes is not None else None,
                             _dumps(previous) if previous is not None else None))
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


class ImportRunner(DependencyProvider):
    """Runs import jobs in the background: claims queued jobs (and running ones whose
    lease ran out) one at a time, and resumes them from their checkpoint."""

    def setup(self):
        config = self.container.config
        self.database = get_database(database_url(config, "contacts"))
        self.events = EventStore(self.database)
        self.batch_size = int(config.get("IMPORT_BATCH_SIZE") or DEFAULT_BATCH_SIZE)
        self.lease_seconds = float(config.get("IMPORT_LEASE_SECONDS") or DEFAULT_LEASE_SECONDS)
        self.pause = float(config.get("IMPORT_BATCH_PAUSE") or BATCH_PAUSE)
        self.owner = f"{uuid.uuid4()}"
        self._wake = Event()
        self._running = False
        self._thread = None
        self.current = None

    def start(self):
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._loop,
                                                           identifier="contacts.imports")

    def stop(self):
        self._running = False
        self.wake()
        stop_within([self._thread])

    def kill(self):
        self._running = False
        if self._thread is not None:
            self._thread.kill()

    def wake(self):
        if not self._wake.ready():
            self._wake.send(True)

    def get_dependency(self, worker_ctx):
        return self

    def _loop(self):
        while self._running:
            try:
                job_id = self.claim()
            except Exception:
                log.exception("contacts: could not look for import jobs")
                job_id = None
            if job_id is None:
                with eventlet.Timeout(POLL_SECONDS, False):
                    self._wake.wait()
                self._wake = Event()
                continue
            self.run(job_id)

    def claim(self):
        """The id of a job this runner now owns, or ``None``."""
        now = time.time()
        free = or_(jobs.c.owner.is_(None), jobs.c.lease_until < now)
        with self.database.read() as conn:
            candidates = conn.execute(select(jobs.c.id).where(jobs.c.status.in_(ACTIVE))
                                      .where(free).order_by(jobs.c.created_at)
                                      .limit(10)).scalars().all()
        for job_id in candidates:
            with self.database.write() as conn:
                claimed = conn.execute(
                    update(jobs).where(jobs.c.id == job_id).where(jobs.c.status.in_(ACTIVE))
                    .where(free).values(owner=self.owner, status="running",
                                        lease_until=time.time() + self.lease_seconds,
                                        started_at=format_time(utc_now()))).rowcount
            if claimed == 1:
                return job_id
        return None

    def run(self, job_id):
        self.current = job_id
        try:
            JobRun(self.database, self.events, job_id, self.owner, self.batch_size,
                   self.lease_seconds, self.pause,
                   should_stop=lambda: not self._running).run()
        except LostLease:
            log.warning("contacts: import %s was taken over by another runner", job_id)
        except Exception as exc:
            log.exception("contacts: import %s failed", job_id)
            with self.database.write() as conn:
                conn.execute(update(jobs).where(jobs.c.id == job_id)
                             .where(jobs.c.owner == self.owner)
                             .values(status="failed", owner=None,
                                     error=f"the import stopped: {exc}"[:2000],
                                     finished_at=format_time(utc_now())))
        finally:
            self.current = None


# -- errors.csv and revert -------------------------------------------------------------

def errors_csv(conn, job):
    """The failed rows as they were in the file, plus an ``error`` column (UTF-8, BOM);
    formula cells neutralised as the export does."""
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


def revert(database, store, ctx, job_id):
    """Undo a finished job as events; returns what was undone."""
    with database.read() as conn:
        job = _find_job(conn, ctx.workspace, job_id)
        if job.dry_run:
            raise Conflict("a dry run changed nothing: there is nothing to revert")
        if job.status != "done":
            raise Conflict("only a finished import can be reverted")
        if job.reverted_at:
            raise Conflict("this import was already reverted")
        rows = conn.execute(select(rows_table.c.row, rows_table.c.outcome,
                                   rows_table.c.client_id, rows_table.c.changes,
                                   rows_table.c.previous)
                            .where(rows_table.c.job_id == job.id)
                            .where(rows_table.c.outcome.in_(("created", "updated")))
                            .order_by(rows_table.c.row.desc())).all()
    result = {"id": job.id, "archived": 0, "restored": 0, "skipped": [], "position": None}
    for start in range(0, len(rows), DEFAULT_BATCH_SIZE):
        chunk = rows[start:start + DEFAULT_BATCH_SIZE]
        for attempt in range(MAX_ATTEMPTS):
            try:
                outcome = _revert_chunk(database, store, ctx, chunk)
                break
            except ConcurrencyError:
                if attempt + 1 == MAX_ATTEMPTS:
                    raise
        result["archived"] += outcome["archived"]
        result["restored"] += outcome["restored"]
        result["skipped"].extend(outcome["skipped"])
        result["position"] = outcome["position"] or result["position"]
        eventlet.sleep(0)
    with database.write() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job.id)
                     .values(reverted_at=format_time(utc_now())))
    return result


def _revert_chunk(database, store, ctx, chunk):
    outcome = {"archived": 0, "restored": 0, "skipped": [], "position": None}
    occurred_at = format_time(utc_now())
    with database.write() as conn:
        clients = load_clients(conn, [row.client_id for row in chunk])
        touched = {}
        for row in chunk:
            client = clients.get(row.client_id)
            if client is None:
                continue
            version = touched[client.id][1] if client.id in touched else client.version
            try:
                if row.outcome == "created":
                    if client.archived:
                        outcome["skipped"].append({"row": row.row, "client_id": client.id,
                                                   "reason": "already archived"})
                        continue
                    client.archive()
                    outcome["archived"] += 1
                else:
                    if client.archived:
                        outcome["skipped"].append({"row": row.row, "client_id": client.id,
                                                   "reason": "archived since"})
                        continue
                    reverts = unmerge_reverts(client, json.loads(row.changes or "{}"),
                                              json.loads(row.previous or "{}"))
                    if any(name in reverts for name in TAX_FIELDS):
                        after = {**client.state(), **reverts}
                        if queries.tax_id_holder(conn, ctx.workspace, after,
                                                 exclude=[client.id]):
                            outcome["skipped"].append({
                                "row": row.row, "client_id": client.id,
                                "reason": "another client has its previous tax id now"})
                            continue
                    if client.update(reverts):
                        outcome["restored"] += 1
            except Conflict as exc:
                outcome["skipped"].append({"row": row.row, "client_id": client.id,
                                           "reason": exc.detail})
                continue
            touched[client.id] = (client, version, False)
        stored = append_clients(store, conn, ctx, touched, occurred_at)
        if stored:
            outcome["position"] = stored[-1].position
    return outcome


# -- RPC ---------------------------------------------------------------------------------

class ClientImportsRpc:
    """Mixin of ``ContactsService``: import jobs over RPC (see docs/imports.md)."""

    @rpc
    def start_import(self, ctx, file_name, data, mode="create", dry_run=False, mapping=None,
                     blank_cells="keep"):
        """Check the file (413/415/422 at once) and queue a job: the job record.
        ``blank_cells``: whether a blank cell in ``upsert`` keeps (default) or clears the
        stored value."""
        ctx = CommandContext.load(ctx)
        content = read_content(self.store.db, ctx.workspace, data, max_bytes(self.config))
        errors = {}
        if mode not in MODES:
            errors["mode"] = ["must be create or upsert"]
        blank_cells = blank_cells or "keep"
        if blank_cells not in BLANK_CELLS:
            errors["blank_cells"] = ["must be keep or clear"]
        try:
            dry_run = _bool(dry_run, "dry_run")
        except ValidationFailed as exc:
            errors.update(exc.errors)
        if errors:
            raise ValidationFailed("some fields are invalid", errors)
        mapping = parse_mapping(mapping)
        table = spreadsheets.open_table(content, file_name)
        columns = spreadsheets.match_headers(table.header, mapping)
        job_id = str(uuid.uuid4())
        name = str(file_name or "import")[:255]
        with self.store.db.write() as conn:
            conn.execute(insert(jobs).values(
                id=job_id, workspace=ctx.workspace, actor=ctx.actor,
                correlation_id=ctx.correlation_id, status="queued", mode=mode,
                dry_run=dry_run, mapping=_dumps(mapping) if mapping else None,
                blank_cells=blank_cells,
                file_name=name, format=table.format,
                columns=_dumps({"unknown": columns.unknown, "ignored": columns.ignored}),
                total=None, processed=0, checkpoint=1, created=0, updated=0, unchanged=0,
                failed=0, created_at=format_time(utc_now())))
            take_upload(conn, ctx.workspace, data)
            conn.execute(insert(files_table).values(job_id=job_id, content=content))
            record = job_record(conn, conn.execute(select(jobs).where(jobs.c.id == job_id))
                                .first())
        self.import_runner.wake()
        return record

    @rpc
    def get_import(self, ctx, job_id):
        """The job: status, counters, errors (at most 1000, by row)."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            return job_record(conn, _find_job(conn, ctx.workspace, job_id))

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
            job = _find_job(conn, ctx.workspace, job_id)
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
            job = _find_job(conn, ctx.workspace, job_id)
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
            job = _find_job(conn, ctx.workspace, job_id)
        size, part = errors_report(self.store.db, job, offset, length)
        return {"size": size, "offset": offset,
                "data": base64.b64encode(part).decode("ascii")}

    @rpc
    def revert_import(self, ctx, job_id):
        """Archive what the job created, restore what it changed (as events)."""
        ctx = CommandContext.load(ctx)
        return revert(self.store.db, self.store.events, ctx, job_id)
