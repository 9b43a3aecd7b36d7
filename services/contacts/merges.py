"""Duplicates and merges over RPC: the standing duplicates list, merging clients into one
and undoing a merge (see docs/rpc-contacts.md)."""
import json
import logging
import uuid

import eventlet
from sqlalchemy import select, update

from services.common.context import CommandContext
from services.common.envelope import format_time, utc_now
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.rpc import rpc

from . import duplicates as duplicate_list
from . import queries
from .db import client_merges_table
from .domain import Merge, merge_stream_id, plan_merge, unmerge_reverts
from .schemas import validate_client
from .writes import TAX_FIELDS, ClientWrites, canonical_uuid, tax_conflict

log = logging.getLogger(__name__)

MOVES = ["projects", "invoices", "purchase_orders", "quotes"]
COUNT_SECONDS = 5.0  # how long a dry run waits for projects/billing to count what moves
BILLING_LISTS = (("invoices", "list_invoices"), ("purchase_orders", "list_purchase_orders"),
                 ("quotes", "list_quotes"))


class MergesRpc(ClientWrites):
    """Mixin of ``ContactsService``: duplicates and merges. Uses the service's ``store``,
    ``projects_rpc`` and ``billing_rpc`` dependencies."""

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

        def command(uow):
            conn = uow.conn
            self._lock(conn, [survivor_id, *duplicate_ids])
            survivor = self._load(uow, ctx, survivor_id, lock=False)
            dups = [self._load(uow, ctx, i, lock=False) for i in duplicate_ids]
            choices = {name: (canonical_uuid(value) or value)
                       for name, value in (fields or {}).items()}
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
                    raise tax_conflict(holder)
            diff = {name: [before.get(name), value] for name, value in changes.items()}
            moves = {"from": merged_ids, "to": survivor.id, "records": MOVES}
            if dry_run:
                for aggregate in (survivor, *dups):
                    aggregate.collect()  # nothing of a dry run is stored
                now = format_time(utc_now())
                record = queries.client_record(survivor, survivor.version, now)
                record["updated_at"] = queries.get_client(conn, ctx.workspace,
                                                          survivor.id)["updated_at"]
                return {"client": record, "merge_id": None, "merged_ids": merged_ids,
                        "changes": diff, "moves": moves, "dry_run": True,
                        "position": survivor.position}
            merge_id = ctx.new_id("merge")
            for dup in dups:
                dup.archive(merged_into=survivor.id, merge_id=merge_id)
            merge = Merge(merge_stream_id(merge_id))
            merge.merge(merge_id, survivor.id, merged_ids, changes)
            stored = self._save(uow, survivor, *dups, merge)
            conn.execute(client_merges_table.insert().values(
                id=merge_id, workspace=ctx.workspace, survivor_id=survivor.id,
                merged_ids=json.dumps(merged_ids), changes=json.dumps(changes),
                previous=json.dumps({name: before.get(name) for name in changes}),
                merged_at=stored[-1].occurred_at))
            return {"client": queries.get_client(conn, ctx.workspace, survivor.id),
                    "merge_id": merge_id, "merged_ids": merged_ids, "changes": diff,
                    "moves": moves, "dry_run": False, "position": stored[-1].position}

        result = self._write(ctx, "merge_clients", command)
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
        merge_key = canonical_uuid(merge_id)

        def command(uow):
            conn = uow.conn
            merges = client_merges_table
            row = conn.execute(select(merges).where(merges.c.id == merge_key)
                               .where(merges.c.workspace == ctx.workspace)).first() \
                if merge_key else None
            if row is not None:
                self._lock(conn, [row.survivor_id, *json.loads(row.merged_ids)])
            survivor = self._load(uow, ctx, survivor_id, lock=False)
            row = conn.execute(select(merges).where(merges.c.id == merge_key)
                               .where(merges.c.workspace == ctx.workspace)).first() \
                if merge_key else None
            if row is None or row.survivor_id != survivor.id:
                raise NotFound("no such merge for this client")
            merge = uow.load(Merge, merge_stream_id(merge_key))
            merge.unmerge()
            survivor.ensure_active()
            before = survivor.state()
            reverts = unmerge_reverts(survivor, json.loads(row.changes), json.loads(row.previous))
            survivor.update(reverts)
            dups = [self._load(uow, ctx, i, lock=False) for i in json.loads(row.merged_ids)]
            for dup in dups:
                dup.restore(merge_id=merge_key)
            self._check_unmerged_tax_ids(conn, ctx, survivor, dups)
            stored = self._save(uow, survivor, *dups, merge)
            now = stored[-1].occurred_at
            conn.execute(update(merges).where(merges.c.id == merge_key)
                         .values(unmerged_at=now))
            return {"client": queries.get_client(conn, ctx.workspace, survivor.id),
                    "merge_id": merge_key, "restored_ids": [d.id for d in dups],
                    "changes": {name: [before.get(name), value]
                                for name, value in reverts.items()},
                    "position": stored[-1].position}

        return self._write(ctx, "unmerge_clients", command)

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
                raise tax_conflict(holder)
