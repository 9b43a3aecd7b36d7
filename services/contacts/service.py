"""The contacts service: nameko RPC over the Client and Merge aggregates.

Every method takes the call context ``ctx`` first (``{"workspace", "actor",
"correlation_id"}``): a client of another workspace is exactly like an unknown one
(``NotFound``). Writes load the aggregate from its stream, run the command, and in one
transaction append the events and update the query tables; they answer
``{"client": ..., "position": <position of the client's last event>}``. See
docs/rpc-contacts.md for every method and its errors.
"""
import base64
import json
import logging
import uuid
from dataclasses import dataclass

import eventlet
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from services.common.context import CommandContext
from services.common.envelope import format_time, utc_now
from services.common.errors import (BadRequest, ConcurrencyError, Conflict, NotFound,
                                    PreconditionFailed, ValidationFailed)
from services.common.eventstore import StreamAppend
from services.common.extensions import (EventConsumerProvider, EventSourcedStore,
                                        EventSourceRpc, HealthChecks)
from services.common.migrations import migrator
from services.common.paging import offset_page
from services.common.rpc import rpc  # typed errors are answers: logged as expected

from . import duplicates as duplicate_list
from . import files as file_rules
from . import queries
from . import spreadsheets
from . import timeline
from .imports import ClientImportsRpc, ImportRunner
from .uploads import UploadsRpc, decode_base64, read_content, take_upload
from .db import client_merges_table, clients_table
from .domain import Client, Merge, merge_stream_id, plan_merge, unmerge_reverts
from .schemas import flatten_errors, validate_client  # noqa: F401  (flatten_errors: API)
from .validation import duplicate_keys

log = logging.getLogger(__name__)

migrate = migrator(__file__)

MAX_ATTEMPTS = 5  # a write without If-Match retries this often on a concurrent append
TAX_FIELDS = ("tax_id", "country", "address")  # what a client's tax id key depends on
MOVES = ["projects", "invoices", "purchase_orders", "quotes"]
COUNT_SECONDS = 5.0  # how long a dry run waits for projects/billing to count what moves
BILLING_LISTS = (("invoices", "list_invoices"), ("purchase_orders", "list_purchase_orders"),
                 ("quotes", "list_quotes"))


def validation_errors(exc):
    """marshmallow messages -> {"field.path": [messages]} (kept for callers)."""
    return flatten_errors(exc.messages)


def _uuid(value):
    """``value`` as a canonical uuid string, or ``None`` if it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None


def _expected(expected_version):
    if expected_version is None:
        return None
    if isinstance(expected_version, bool) or not isinstance(expected_version, int) \
            or expected_version < 1:
        raise BadRequest("the expected version must be a positive whole number",
                         {"If-Match": ["expected a version such as \"3\""]})
    return expected_version


@dataclass(frozen=True)
class PendingEvent:
    """An event about to be appended, as the projection sees it."""

    type: str
    data: dict
    stream_version: int
    occurred_at: str


def _pending(version, events):
    now = format_time(utc_now())
    return [PendingEvent(event.type, event.data, version + index, now)
            for index, event in enumerate(events, start=1)]


class SpreadsheetLimits(DependencyProvider):
    """Applies the config's ``IMPORT_MAX_*`` limits to every file this process reads."""

    def setup(self):
        spreadsheets.configure(self.container.config)


def _tax_conflict(holder):
    return Conflict("a client with this tax id already exists",
                    extra={"existing_id": holder})


class ContactsService(ClientImportsRpc, UploadsRpc, EventSourceRpc, HealthChecks):
    name = "contacts"

    config = Config()
    store = EventSourcedStore("contacts", migrate)
    consumer = EventConsumerProvider("contacts", "contacts", migrate, timeline.HANDLERS)
    storage = file_rules.FileStorageProvider()
    projects_rpc = RpcProxy("projects")
    billing_rpc = RpcProxy("billing")
    import_runner = ImportRunner()
    spreadsheet_limits = SpreadsheetLimits()

    # -- plumbing --------------------------------------------------------------------------

    def _write(self, command, expected_version=None):
        """Run ``command(conn)`` in a write transaction.

        A concurrent append to the same stream (``ConcurrencyError``) means the caller's
        version is stale: 412 when it named one (If-Match), otherwise the command runs
        again on fresh state, a few times.
        """
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.store.db.write() as conn:
                    return command(conn)
            except ConcurrencyError:
                if expected_version is not None:
                    raise PreconditionFailed(
                        "the client has changed since that version; read it again") from None
                if attempt + 1 == MAX_ATTEMPTS:
                    raise Conflict("too many concurrent changes to this client; retry") \
                        from None
            except IntegrityError:
                if attempt + 1 == MAX_ATTEMPTS:
                    raise
                log.info("contacts: integrity error on write, retrying", exc_info=True)

    @staticmethod
    def _lock(conn, client_ids):
        """Writers of the same clients take turns (PostgreSQL; SQLite's write lock already
        serialises every writer): each then loads the state the previous one committed,
        instead of failing on the stream version and retrying. Rows are locked in id
        order, so two merges naming the same clients cannot deadlock."""
        ids = sorted({cid for cid in (_uuid(i) for i in client_ids) if cid})
        if ids and conn.dialect.name == "postgresql":
            conn.execute(select(clients_table.c.id).where(clients_table.c.id.in_(ids))
                         .order_by(clients_table.c.id).with_for_update())

    def _load(self, conn, ctx, client_id, lock=True):
        """The client aggregate (``NotFound`` unless it is in the caller's workspace)."""
        stream_id = _uuid(client_id)
        if stream_id is None:
            raise NotFound("no such client")
        if lock:
            self._lock(conn, [stream_id])
        events = self.store.events.read_stream(stream_id, conn=conn)
        client = Client.rehydrate(stream_id, events)
        client.ensure_in(ctx.workspace)
        client.position = events[-1].position
        return client

    @staticmethod
    def _check_version(client, expected_version):
        if expected_version is not None and client.version != expected_version:
            raise PreconditionFailed(
                f"the client is at version {client.version}, not {expected_version}; "
                "read it again", extra={"version": client.version})

    def _save(self, conn, ctx, client, is_new=False):
        """Project the client's pending events, then append them; returns the envelopes.

        The query tables are written first: the append takes the store's position
        counter (a row lock held until commit), so it comes last to keep that short.
        """
        events = client.collect()
        if not events:
            return []
        queries.project(conn, client, _pending(client.version, events), is_new)
        stored = self.store.events.append(
            client.id, client.version, events, workspace=ctx.workspace, actor=ctx.actor,
            correlation_id=ctx.correlation_id, conn=conn)
        client.version = stored[-1].stream_version
        client.position = stored[-1].position
        return stored

    def _answer(self, conn, ctx, client):
        return {"client": queries.get_client(conn, ctx.workspace, client.id),
                "position": client.position}

    # -- clients ---------------------------------------------------------------------------

    @rpc
    def create_client(self, ctx, data):
        """Register a client; returns ``{"client", "position"}``."""
        ctx = CommandContext.load(ctx)
        fields = validate_client(data)
        client_id = str(uuid.uuid4())

        def command(conn):
            client = Client(client_id)
            client.register(ctx.workspace, fields, format_time(utc_now()))
            holder = queries.tax_id_holder(conn, ctx.workspace, client.state())
            if holder:
                raise _tax_conflict(holder)
            self._save(conn, ctx, client, is_new=True)
            return self._answer(conn, ctx, client)

        return self._write(command)

    @rpc
    def get_client(self, ctx, client_id):
        """The client as stored; ``NotFound`` if it is not in the caller's workspace."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            record = queries.get_client(conn, ctx.workspace, str(client_id))
        if record is None:
            raise NotFound("no such client")
        return record

    @rpc
    def get_clients(self, ctx, client_ids):
        """``{id: client}`` for those of ``client_ids`` in the caller's workspace."""
        ctx = CommandContext.load(ctx)
        if not isinstance(client_ids, (list, tuple)) or len(client_ids) > 5000:
            raise BadRequest("client_ids must be a list of at most 5000 ids",
                             {"client_ids": ["a list of at most 5000 ids"]})
        with self.store.db.read() as conn:
            return queries.get_clients(conn, ctx.workspace, [str(i) for i in client_ids])

    @rpc
    def find_clients(self, ctx, tax_id=None, email=None, phone=None, name=None, country=None,
                     limit=20):
        """Non-archived clients matching any of the given values once normalised (as the
        duplicates list matches): ``{"items": [{"client", "matched": [kinds]}]}``, the
        clients matching most kinds first."""
        ctx = CommandContext.load(ctx)
        wanted = {kind: key for kind, key in duplicate_keys({
            "tax_id": tax_id, "email": email, "phone": phone, "name": name,
            "country": country}).items() if key}
        try:
            limit = max(1, min(int(limit or 20), 500))
        except (TypeError, ValueError):
            raise BadRequest("limit must be a whole number", {"limit": ["not a number"]}) \
                from None
        with self.store.db.read() as conn:
            found = queries.find_by_keys(conn, ctx.workspace, wanted)[:limit]
            records = queries.get_clients(conn, ctx.workspace, [cid for cid, _ in found])
        return {"items": [{"client": records[cid], "matched": kinds}
                          for cid, kinds in found if cid in records]}

    @rpc
    def update_client(self, ctx, client_id, changes, expected_version=None):
        """Partial update (see ``schemas.ClientPatchSchema``); nothing is appended when
        nothing changes. ``expected_version`` (If-Match) -> 412 when stale."""
        ctx = CommandContext.load(ctx)
        expected_version = _expected(expected_version)

        def command(conn):
            client = self._load(conn, ctx, client_id)
            self._check_version(client, expected_version)
            client.ensure_active()
            values = validate_client(changes, partial=True, current=client.state())
            client.update(values)
            if client.pending and any(name in client.pending[0].data["changes"]
                                      for name in TAX_FIELDS):
                holder = queries.tax_id_holder(conn, ctx.workspace, client.state(),
                                               exclude=[client.id])
                if holder:
                    raise _tax_conflict(holder)
            self._save(conn, ctx, client)
            return self._answer(conn, ctx, client)

        return self._write(command, expected_version)

    @rpc
    def archive_client(self, ctx, client_id, expected_version=None):
        """Archive a client (it can still be read); 409 if it is already archived."""
        ctx = CommandContext.load(ctx)
        expected_version = _expected(expected_version)

        def command(conn):
            client = self._load(conn, ctx, client_id)
            self._check_version(client, expected_version)
            client.archive()
            self._save(conn, ctx, client)
            return self._answer(conn, ctx, client)

        return self._write(command, expected_version)

    @rpc
    def restore_client(self, ctx, client_id, expected_version=None):
        """Restore an archived client; 409 if it is not archived, was merged (unmerge
        instead), or another client took its tax id meanwhile (``existing_id``)."""
        ctx = CommandContext.load(ctx)
        expected_version = _expected(expected_version)

        def command(conn):
            client = self._load(conn, ctx, client_id)
            self._check_version(client, expected_version)
            client.restore()
            holder = queries.tax_id_holder(conn, ctx.workspace, client.state(),
                                           exclude=[client.id])
            if holder:
                raise _tax_conflict(holder)
            self._save(conn, ctx, client)
            return self._answer(conn, ctx, client)

        return self._write(command, expected_version)

    @rpc
    def list_clients(self, ctx, params=None):
        """Search, filter, sort and page: ``{"items", "next_cursor"}``.

        ``params`` as in the query string of ``GET /api/v1/clients`` (strings): ``q``,
        ``category``, ``country``, ``tag``, ``added_from``, ``added_to``, ``archived``,
        ``sort``, ``limit``, ``cursor``. ``BadRequest`` names each invalid one.
        """
        ctx = CommandContext.load(ctx)
        parsed = {**queries.parse_list_params(params or {}), "_parsed": True}
        with self.store.db.read() as conn:
            return queries.list_clients(conn, ctx.workspace, parsed)

    @rpc
    def client_history(self, ctx, client_id, limit=None, cursor=None):
        """The client's timeline, oldest first, a page at a time: ``{"items",
        "next_cursor"}``."""
        ctx = CommandContext.load(ctx)
        stream_id = _uuid(client_id)
        if stream_id is None:
            raise NotFound("no such client")
        with self.store.db.read() as conn:
            events = self.store.events.read_stream(stream_id, conn=conn)
            Client.rehydrate(stream_id, events).ensure_in(ctx.workspace)
            items = timeline.client_history(conn, events, ctx.workspace, stream_id)
        return offset_page(items, limit, cursor, "history")

    # -- duplicates and merges -------------------------------------------------------------

    @rpc
    def duplicates(self, ctx, limit=None, cursor=None):
        """The standing list of likely duplicate groups: ``{"items", "next_cursor"}``
        (see ``services.contacts.duplicates`` for groups, reasons and the score)."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:  # the page checks limit and cursor (400)
            groups = duplicate_list.duplicate_groups(conn, ctx.workspace)
        return duplicate_list.page(groups, limit, cursor)

    @rpc
    def merge_clients(self, ctx, survivor_id, duplicate_ids, fields=None, dry_run=False):
        """Merge ``duplicate_ids`` into ``survivor_id`` (see docs/rpc-contacts.md)."""
        ctx = CommandContext.load(ctx)
        errors = {}
        if not isinstance(duplicate_ids, list) or not all(isinstance(i, str)
                                                          for i in duplicate_ids):
            errors["duplicate_ids"] = ["must be a list of client ids"]
        if fields is not None and not isinstance(fields, dict):
            errors["fields"] = ["must be an object: field -> id of the client whose value wins"]
        if not isinstance(dry_run, bool):
            errors["dry_run"] = ["must be true or false"]
        if errors:
            raise ValidationFailed("some fields are invalid", errors)

        def command(conn):
            self._lock(conn, [survivor_id, *duplicate_ids])
            survivor = self._load(conn, ctx, survivor_id, lock=False)
            dups = [self._load(conn, ctx, i, lock=False) for i in duplicate_ids]
            choices = {name: (_uuid(value) or value) for name, value in (fields or {}).items()}
            changes = plan_merge(survivor, dups, choices)
            before = survivor.state()
            if changes:  # cross-field rules: e.g. the tax id against a country taken over
                changes = validate_client(changes, partial=True, current=before)
            survivor.update(changes)
            merged_ids = [d.id for d in dups]
            if any(name in changes for name in TAX_FIELDS):
                holder = queries.tax_id_holder(conn, ctx.workspace, survivor.state(),
                                               exclude=[survivor.id, *merged_ids])
                if holder:
                    raise _tax_conflict(holder)
            diff = {name: [before.get(name), value] for name, value in changes.items()}
            moves = {"from": merged_ids, "to": survivor.id, "records": MOVES}
            if dry_run:
                now = format_time(utc_now())
                record = queries.client_record(survivor, survivor.version, now)
                record["updated_at"] = queries.get_client(conn, ctx.workspace,
                                                          survivor.id)["updated_at"]
                return {"client": record, "merge_id": None, "merged_ids": merged_ids,
                        "changes": diff, "moves": moves, "dry_run": True,
                        "position": survivor.position}
            merge_id = str(uuid.uuid4())
            for dup in dups:
                dup.archive(merged_into=survivor.id, merge_id=merge_id)
            merge = Merge(merge_stream_id(merge_id))
            merge.merge(merge_id, survivor.id, merged_ids, changes)
            stored = self._append_together(conn, ctx, [survivor, *dups], merge)
            conn.execute(client_merges_table.insert().values(
                id=merge_id, workspace=ctx.workspace, survivor_id=survivor.id,
                merged_ids=json.dumps(merged_ids), changes=json.dumps(changes),
                previous=json.dumps({name: before.get(name) for name in changes}),
                merged_at=stored[-1].occurred_at))
            return {"client": queries.get_client(conn, ctx.workspace, survivor.id),
                    "merge_id": merge_id, "merged_ids": merged_ids, "changes": diff,
                    "moves": moves, "dry_run": False, "position": stored[-1].position}

        result = self._write(command)
        if result["dry_run"]:
            result["moves"]["counts"] = self._count_moves(ctx, result["merged_ids"])
        return result

    def _count_moves(self, ctx, client_ids):
        """How many projects, invoices, orders and quotes the duplicates have now, asked of
        the services that own them; a figure they cannot give in time is ``None``."""
        counts = {}
        call_ctx = ctx.to_dict()

        def projects():
            return sum(self.projects_rpc.client_totals(call_ctx, cid)["projects"]
                       for cid in client_ids)

        def documents(method):
            total = 0
            for cid in client_ids:
                cursor = None
                while True:
                    filters = {"client_id": cid, "limit": 500}
                    if cursor:
                        filters["cursor"] = cursor
                    page = getattr(self.billing_rpc, method)(call_ctx, filters)
                    total += len(page["items"])
                    cursor = page.get("next_cursor")
                    if not cursor:
                        break
            return total

        work = [("projects", projects)] + [(key, lambda m=method: documents(m))
                                           for key, method in BILLING_LISTS]
        for key, count in work:
            try:
                with eventlet.Timeout(COUNT_SECONDS):
                    counts[key] = count()
            except (Exception, eventlet.Timeout) as exc:
                log.info("contacts: could not count %s for a merge dry run: %r", key, exc)
                counts[key] = None
        return counts

    @rpc
    def unmerge_clients(self, ctx, survivor_id, merge_id):
        """Undo one merge: restores the duplicates, reverts the survivor's fields the merge
        set (unless changed since), appends ``ClientsUnmerged``."""
        ctx = CommandContext.load(ctx)
        if not isinstance(merge_id, str) or not merge_id:
            raise ValidationFailed("some fields are invalid",
                                   {"merge_id": ["the id of the merge to undo is required"]})
        merge_key = _uuid(merge_id)

        def command(conn):
            merges = client_merges_table
            row = conn.execute(select(merges).where(merges.c.id == merge_key)
                               .where(merges.c.workspace == ctx.workspace)).first() \
                if merge_key else None
            if row is not None:
                self._lock(conn, [row.survivor_id, *json.loads(row.merged_ids)])
            survivor = self._load(conn, ctx, survivor_id, lock=False)
            row = conn.execute(select(merges).where(merges.c.id == merge_key)
                               .where(merges.c.workspace == ctx.workspace)).first() \
                if merge_key else None
            if row is None or row.survivor_id != survivor.id:
                raise NotFound("no such merge for this client")
            merge = Merge.rehydrate(merge_stream_id(merge_key), self.store.events.read_stream(
                merge_stream_id(merge_key), conn=conn))
            merge.unmerge()
            survivor.ensure_active()
            before = survivor.state()
            reverts = unmerge_reverts(survivor, json.loads(row.changes), json.loads(row.previous))
            survivor.update(reverts)
            dups = [self._load(conn, ctx, i, lock=False) for i in json.loads(row.merged_ids)]
            for dup in dups:
                dup.restore(merge_id=merge_key)
            self._check_unmerged_tax_ids(conn, ctx, survivor, dups)
            stored = self._append_together(conn, ctx, [survivor, *dups], merge)
            now = stored[-1].occurred_at
            conn.execute(update(merges).where(merges.c.id == merge_key)
                         .values(unmerged_at=now))
            return {"client": queries.get_client(conn, ctx.workspace, survivor.id),
                    "merge_id": merge_key, "restored_ids": [d.id for d in dups],
                    "changes": {name: [before.get(name), value]
                                for name, value in reverts.items()},
                    "position": stored[-1].position}

        return self._write(command)

    def _check_unmerged_tax_ids(self, conn, ctx, survivor, dups):
        involved = [survivor, *dups]
        ids = [c.id for c in involved]
        seen = {}
        for client in involved:
            key = queries.match_keys(client.state()).get("tax_id")
            if key is None:
                continue
            if key in seen:
                raise Conflict("the survivor and a merged client would share a tax id",
                               extra={"existing_id": seen[key]})
            seen[key] = client.id
            holder = queries.tax_id_holder(conn, ctx.workspace, client.state(), exclude=ids)
            if holder:
                raise _tax_conflict(holder)

    def _append_together(self, conn, ctx, clients, merge):
        """Append the clients' and the merge's pending events in ONE batch, then project."""
        pending = {client.id: (client, client.version, client.collect()) for client in clients}
        for client, version, events in pending.values():
            if events:
                queries.project(conn, client, _pending(version, events), is_new=False)
        merge_events = merge.collect()
        appends = [StreamAppend(cid, version, events, ctx.workspace, ctx.actor,
                                ctx.correlation_id)
                   for cid, (_, version, events) in pending.items()]
        appends.append(StreamAppend(merge.id, merge.version, merge_events, ctx.workspace,
                                    ctx.actor, ctx.correlation_id))
        stored = self.store.events.append_batch(appends, conn=conn)
        by_stream = {}
        for envelope in stored:
            by_stream.setdefault(envelope.stream_id, []).append(envelope)
        for cid, (client, _, _) in pending.items():
            envelopes = by_stream.get(cid)
            if envelopes:
                client.version = envelopes[-1].stream_version
                client.position = envelopes[-1].position
        timeline.store_merge_events(conn, by_stream.get(merge.id, []))
        return stored

    # -- photo -----------------------------------------------------------------------------

    @rpc
    def set_photo(self, ctx, client_id, data):
        """Replace the client's photo (``data``: base64 of a PNG, JPEG or WebP image,
        at most 2 MiB): 415 / 413 otherwise."""
        ctx = CommandContext.load(ctx)
        content = decode_base64(data)
        content_type = file_rules.photo_type(content)
        target = self.storage.photo_path(_uuid(client_id) or str(uuid.UUID(int=0)))
        staged = None

        def command(conn):
            nonlocal staged
            client = self._load(conn, ctx, client_id)
            client.change_photo(content_type, len(content))
            if staged is None:
                staged = self.storage.stage(content, target)
            self._save(conn, ctx, client)
            self.storage.commit(staged, target)  # last step before the commit
            staged = None
            return self._answer(conn, ctx, client)

        try:
            return self._write(command)
        finally:
            if staged is not None:
                self.storage.discard(staged)

    @rpc
    def get_photo(self, ctx, client_id):
        """``{"content_type", "size", "data" (base64), "version"}``; 404 without photo."""
        ctx = CommandContext.load(ctx)
        record = self.get_client(ctx.to_dict(), client_id)
        if not record.get("photo"):
            raise NotFound("this client has no photo")
        content = self.storage.read(self.storage.photo_path(record["id"]))
        if content is None:
            raise NotFound("this client's photo is missing from the file storage")
        return {"content_type": file_rules.sniff_image(content) or
                record["photo"]["content_type"], "size": len(content),
                "data": base64.b64encode(content).decode("ascii"),
                "version": record["version"]}

    @rpc
    def remove_photo(self, ctx, client_id):
        """Remove the client's photo; 404 if it has none."""
        ctx = CommandContext.load(ctx)

        def command(conn):
            client = self._load(conn, ctx, client_id)
            client.remove_photo()
            self._save(conn, ctx, client)
            return self._answer(conn, ctx, client)

        result = self._write(command)
        self.storage.discard(self.storage.photo_path(result["client"]["id"]))
        return result

    # -- attachments -----------------------------------------------------------------------

    @rpc
    def attach_file(self, ctx, client_id, name, data):
        """Attach a file (``data``: base64, or an upload sent in parts, see uploads.py; at
        most 20 MiB; its type checked by content):
        ``{"file": {id, name, size, content_type, uploaded_at}, "client", "position"}``."""
        ctx = CommandContext.load(ctx)
        content = read_content(self.store.db, ctx.workspace, data, file_rules.MAX_FILE_BYTES)
        name = file_rules.clean_file_name(name)
        content_type = file_rules.attachment_type(name, content)
        file_id = str(uuid.uuid4())
        target = self.storage.file_path(_uuid(client_id) or str(uuid.UUID(int=0)), file_id)
        staged = None

        def command(conn):
            nonlocal staged
            client = self._load(conn, ctx, client_id)
            client.attach_file(file_id, name, len(content), content_type)
            take_upload(conn, ctx.workspace, data)
            if staged is None:
                staged = self.storage.stage(content, target)
            self._save(conn, ctx, client)
            self.storage.commit(staged, target)
            staged = None
            answer = self._answer(conn, ctx, client)
            answer["file"] = queries.get_file(conn, ctx.workspace, client.id, file_id)
            return answer

        try:
            return self._write(command)
        finally:
            if staged is not None:
                self.storage.discard(staged)

    @rpc
    def list_files(self, ctx, client_id):
        """``{"items": [{id, name, size, content_type, uploaded_at}]}``, oldest first."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            if queries.get_client(conn, ctx.workspace, str(client_id)) is None:
                raise NotFound("no such client")
            return {"items": queries.list_files(conn, ctx.workspace, str(client_id))}

    @rpc
    def get_file(self, ctx, client_id, file_id):
        """The file's metadata plus ``data`` (base64); a file of more than a few MiB
        does not fit in one message on every broker: read it with ``read_file``."""
        ctx = CommandContext.load(ctx)
        meta = self._file_meta(ctx, client_id, file_id)
        content = self.storage.read(self.storage.file_path(client_id, meta["id"]))
        if content is None:
            raise NotFound("this file is missing from the file storage")
        return {**meta, "data": base64.b64encode(content).decode("ascii")}

    def _file_meta(self, ctx, client_id, file_id):
        with self.store.db.read() as conn:
            if queries.get_client(conn, ctx.workspace, str(client_id)) is None:
                raise NotFound("no such client")
            meta = queries.get_file(conn, ctx.workspace, str(client_id), str(file_id))
        if meta is None:
            raise NotFound("no such file")
        return meta

    @rpc
    def remove_file(self, ctx, client_id, file_id):
        """Remove an attachment: ``{"client", "position"}``; 404 if unknown."""
        ctx = CommandContext.load(ctx)
        file_key = _uuid(file_id)
        if file_key is None:
            raise NotFound("no such file")

        def command(conn):
            client = self._load(conn, ctx, client_id)
            client.remove_file(file_key)
            self._save(conn, ctx, client)
            return self._answer(conn, ctx, client)

        result = self._write(command)
        self.storage.discard(self.storage.file_path(result["client"]["id"], file_key))
        return result
