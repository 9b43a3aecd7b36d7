"""The right to erasure and the right of access (GDPR art. 15, 17, 20; LGPD art. 18).

- ``sealing.PERSONAL``: which fields of contacts' events are a person's, sealed with a
  key per client (``services.common.personal``).
- ``ErasureRpc.erase_client``: destroys the client's key and records ``ClientErased``
  (no personal data), and blanks every copy contacts keeps outside its events: the
  query tables, the client's history, merges, import files, rows and reports,
  command records, stored photo and attachments. Before that, billing keeps the legal
  name and tax id of the client's issued invoices (what tax law requires,
  ``retain_invoice_parties``). Clients merged into it are the same person: they are
  erased with it. Other services and the gateway blank their copies when they
  receive ``ClientErased`` (docs/privacy.md).
- ``ErasureRpc.personal_data``: everything contacts holds about a client, as JSON.
"""
import csv
import io
import json
import logging

from sqlalchemy import delete, or_, select, update

from services.common.context import CommandContext
from services.common.envelope import format_time, utc_now
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.eventstore import events_table
from services.common.personal import personal_keys_table, seal_rows
from services.common.application import command_records_table
from services.common.rpc import rpc

from . import queries, spreadsheets, timeline
from .db import client_merges_table, client_timeline_table
from .domain import Client, gone, merge_stream_id
from .imports.tables import ACTIVE, files_table, jobs, reports_table, rows_table
from .sealing import PERSONAL
from .validation import compact_tax_id, search_text
from .writes import ClientWrites, canonical_uuid

log = logging.getLogger(__name__)

#: What identifies the person in a file or a text (searched for in import files).
IDENTIFYING_FIELDS = ("name", "tax_id", "email", "phone")

ERASED_TEXT = "[erased]"


def is_erased(conn, workspace, client_id):
    """Whether ``client_id`` is a client of ``workspace`` that was erased."""
    table = personal_keys_table
    return conn.execute(select(table.c.erased_at).where(table.c.subject == client_id)
                        .where(table.c.workspace == workspace)
                        .where(table.c.erased_at.is_not(None))).first() is not None


def missing_client(conn, workspace, client_id):
    """The error for a client the query tables do not have: 410 if it was erased."""
    key = canonical_uuid(client_id)
    if key is not None and is_erased(conn, workspace, key):
        return gone()
    return NotFound("no such client")


def _confirmed(client, confirmation):
    """The confirmation must repeat the client's id or its legal name exactly."""
    if not isinstance(confirmation, str) or not confirmation.strip():
        raise ValidationFailed("some fields are invalid", {"confirmation": [
            "type the client's id or legal name to confirm the erasure"]},
            code="erasure_not_confirmed")
    name = client.fields.get("name") or ""
    if confirmation.strip() not in (client.id, name.strip()):
        raise ValidationFailed("some fields are invalid", {"confirmation": [
            "does not match the client's id or legal name"]}, code="erasure_not_confirmed")


def _identifiers(client):
    """What identifies the person in a file's cell: folded texts (name, email, tax id)
    found inside a cell, and numbers (phone, tax id) a cell's digits end with or are the
    end of (a phone written without its country code)."""
    texts, numbers = set(), set()
    for name in IDENTIFYING_FIELDS:
        value = client.fields.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        if name != "phone":
            texts.add(search_text(value))
        if name == "tax_id":
            texts.add((compact_tax_id(value) or "").lower())
        digits = "".join(ch for ch in value if ch.isdigit())
        if name in ("tax_id", "phone") and len(digits) >= 7:
            numbers.add(digits)
    return {"texts": {text for text in texts if len(text) >= 3}, "numbers": numbers}


def _mentions(cells, identifiers):
    """Whether a row of cells holds one of the identifying values."""
    for cell in cells:
        if cell is None:
            continue
        text = str(cell)
        folded = search_text(text)
        compact = (compact_tax_id(text) or "").lower()
        if any(value in folded or value == compact for value in identifiers["texts"]):
            return True
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 7 and any(number.endswith(digits) or digits.endswith(number)
                                    for number in identifiers["numbers"]):
            return True
    return False


class ErasureRpc(ClientWrites):
    """Mixin of ``ContactsService``: erasure and the export of a client's personal data."""

    @rpc
    def erase_client(self, ctx, client_id, confirmation=None):
        """Erase a client's personal data for good (see the module doc): ``{"client_id",
        "erased_ids", "position"}``. 410 if it was erased already; 409 while it is merged
        into another client or an import of the workspace runs; 422 unless
        ``confirmation`` is the client's id or legal name."""
        ctx = CommandContext.load(ctx)
        recorded = self.store.recorded(ctx, "erase_client")
        if recorded is None:
            self._retain_invoice_parties(ctx, client_id, confirmation)

        def command(uow):
            conn = uow.conn
            client = self._load(uow, ctx, client_id)
            _confirmed(client, confirmation)
            _refuse_while_importing(conn, ctx.workspace)
            merged = _still_merged_into(conn, ctx.workspace, client.id)
            self._lock(conn, merged)
            people = [client] + [self._load(uow, ctx, i, lock=False) for i in merged]
            identifiers = {"texts": set(), "numbers": set()}
            for person in people:
                for kind, values in _identifiers(person).items():
                    identifiers[kind] |= values
            ids = [person.id for person in people]
            merge_ids = _merges_of(conn, ctx.workspace, ids)
            # Events an earlier release stored in plain text are sealed first, so that
            # destroying the key reaches them too (docs/privacy.md, "Migration").
            streams = ids + [merge_stream_id(merge_id) for merge_id in merge_ids]
            seal_rows(conn, PERSONAL, conn.execute(
                select(events_table).where(events_table.c.stream_id.in_(streams))).all())
            for person in people:
                person.erase(merged=person is not client)
            stored = self._save(uow, *people)
            PERSONAL.erase(conn, ids, ctx.workspace)
            _blank_copies(conn, ctx.workspace, ids, merge_ids, identifiers)
            return {"client_id": client.id, "erased_ids": ids,
                    "position": stored[-1].position}

        result = recorded or self._write(ctx, "erase_client", command)
        for erased_id in result["erased_ids"]:  # after the commit; again on a repeat
            self.storage.remove_client(erased_id)
        return result

    def _retain_invoice_parties(self, ctx, client_id, confirmation):
        """Before erasing: billing keeps the legal name and tax id of the client's issued
        invoices (and of the clients merged into it), as tax law requires."""
        key = canonical_uuid(client_id)
        if key is None:
            raise NotFound("no such client")
        with self.store.db.read() as conn:
            client = Client.rehydrate(key, self.store.events.read_stream(key, conn=conn))
            client.ensure_in(ctx.workspace)
            _confirmed(client, confirmation)
            client.ensure_erasable()
            _refuse_while_importing(conn, ctx.workspace)
            merged = _still_merged_into(conn, ctx.workspace, client.id)
            people = [client] + [Client.rehydrate(i, self.store.events.read_stream(i, conn=conn))
                                 for i in merged]
        parties = {person.id: {"legal_name": person.fields.get("name"),
                               "tax_id": person.fields.get("tax_id")} for person in people}
        self.billing_rpc.retain_invoice_parties(ctx.to_dict(), parties)

    @rpc
    def personal_data(self, ctx, client_id):
        """Everything contacts holds about a client (GDPR art. 15 and 20), as JSON."""
        ctx = CommandContext.load(ctx)
        key = canonical_uuid(client_id)
        with self.store.db.read() as conn:
            record = None
            if key is not None:
                record = queries.get_client(conn, ctx.workspace, key)
            if record is None:
                raise missing_client(conn, ctx.workspace, client_id)
            events = self.store.events.read_stream(key, conn=conn)
            history = timeline.client_history(conn, events, ctx.workspace, key)
            files = queries.list_files(conn, ctx.workspace, key)
            merges = [{"merge_id": row.id, "survivor_id": row.survivor_id,
                       "merged_ids": json.loads(row.merged_ids),
                       "changes": json.loads(row.changes), "previous": json.loads(row.previous),
                       "merged_at": row.merged_at, "unmerged_at": row.unmerged_at}
                      for row in conn.execute(select(client_merges_table).where(
                          client_merges_table.c.workspace == ctx.workspace).where(or_(
                              client_merges_table.c.survivor_id == key,
                              client_merges_table.c.merged_ids.contains(key)))
                          .order_by(client_merges_table.c.merged_at))]
            imports = [{"import_id": row.job_id, "file_name": row.file_name, "row": row.row,
                        "outcome": row.outcome, "changes": json.loads(row.changes or "null"),
                        "at": row.created_at}
                       for row in conn.execute(
                           select(rows_table.c.job_id, rows_table.c.row, rows_table.c.outcome,
                                  rows_table.c.changes, jobs.c.file_name, jobs.c.created_at)
                           .join(jobs, jobs.c.id == rows_table.c.job_id)
                           .where(jobs.c.workspace == ctx.workspace)
                           .where(rows_table.c.client_id == key)
                           .order_by(jobs.c.created_at, rows_table.c.row))]
        return {"client": record, "history": history, "files": files,
                "photo": record.get("photo"), "merges": merges, "imports": imports,
                "exported_at": format_time(utc_now())}


def _refuse_while_importing(conn, workspace):
    """An import running now could match the client and write it again: the erasure
    waits until it finishes (409, retry then)."""
    running = conn.execute(select(jobs.c.id).where(jobs.c.workspace == workspace)
                           .where(jobs.c.status.in_(ACTIVE)).limit(1)).scalar()
    if running is not None:
        raise Conflict("an import of this workspace is running; erase the client once it has "
                       "finished", extra={"import_id": running}, code="import_running")


def _still_merged_into(conn, workspace, client_id):
    """Ids of the clients merged into ``client_id`` and not unmerged since."""
    merges = client_merges_table
    ids = []
    for row in conn.execute(select(merges.c.merged_ids).where(merges.c.workspace == workspace)
                            .where(merges.c.survivor_id == client_id)
                            .where(merges.c.unmerged_at.is_(None))):
        ids.extend(json.loads(row.merged_ids))
    return list(dict.fromkeys(ids))


def _merges_of(conn, workspace, client_ids):
    """Ids of every merge one of ``client_ids`` took part in (as survivor or duplicate)."""
    merges = client_merges_table
    found = []
    for row in conn.execute(select(merges.c.id, merges.c.survivor_id, merges.c.merged_ids)
                            .where(merges.c.workspace == workspace)):
        if row.survivor_id in client_ids or set(json.loads(row.merged_ids)) & set(client_ids):
            found.append(row.id)
    return found


def _blank_copies(conn, workspace, client_ids, merge_ids, identifiers):
    """What contacts keeps about the people outside its events, dropped or blanked."""
    ids = list(client_ids)
    # Their history of other services' events (amounts, ids: no personal data, but the
    # person's timeline is theirs) and the merge records naming them.
    conn.execute(delete(client_timeline_table).where(client_timeline_table.c.workspace == workspace)
                 .where(client_timeline_table.c.client_id.in_(ids)))
    if merge_ids:
        for row in conn.execute(select(client_timeline_table.c.id, client_timeline_table.c.data)
                                .where(client_timeline_table.c.workspace == workspace)
                                .where(client_timeline_table.c.source == "contacts")):
            data = json.loads(row.data)
            if data.get("merge_id") in merge_ids and (data.get("fields") or
                                                      data.get("personal")):
                data["fields"] = {}
                data.pop("personal", None)
                conn.execute(update(client_timeline_table)
                             .where(client_timeline_table.c.id == row.id)
                             .values(data=json.dumps(data)))
        conn.execute(update(client_merges_table).where(client_merges_table.c.id.in_(merge_ids))
                     .values(changes="{}", previous="{}"))
    _blank_imports(conn, workspace, ids, identifiers)
    # Answers recorded for repeats of commands that named them (their records).
    records = command_records_table
    for client_id in ids:
        conn.execute(delete(records).where(records.c.workspace == workspace)
                     .where(records.c.outcome.contains(client_id)))


def _blank_imports(conn, workspace, client_ids, identifiers):
    """Import rows that wrote the people lose their values; the stored files and their
    errors.csv lose the rows that name them (blanked in place: row numbers stay)."""
    conn.execute(update(rows_table).where(rows_table.c.client_id.in_(client_ids))
                 .values(changes=None, previous=None))
    job_ids = [row.id for row in conn.execute(select(jobs.c.id).where(jobs.c.workspace ==
                                                                       workspace))]
    for job_id in job_ids:
        linked = {row.row for row in conn.execute(
            select(rows_table.c.row).where(rows_table.c.job_id == job_id)
            .where(rows_table.c.client_id.in_(client_ids)))}
        content = conn.execute(select(files_table.c.content)
                               .where(files_table.c.job_id == job_id)).scalar()
        if content is None:
            continue
        try:
            table = spreadsheets.open_table(bytes(content))
            rows = list(table.rows())
        except Exception:  # a file that no longer reads: nothing can be kept of it
            log.info("contacts: import file %s unreadable during an erasure; dropped", job_id)
            conn.execute(update(files_table).where(files_table.c.job_id == job_id)
                         .values(content=b""))
            conn.execute(delete(reports_table).where(reports_table.c.job_id == job_id))
            continue
        erased_rows = {number for number, cells in rows
                       if number in linked or _mentions(cells, identifiers)}
        if not erased_rows:
            continue
        conn.execute(update(files_table).where(files_table.c.job_id == job_id)
                     .values(content=_blanked_csv(table, rows, erased_rows)))
        conn.execute(delete(reports_table).where(reports_table.c.job_id == job_id))
        for item in conn.execute(select(rows_table.c.row, rows_table.c.errors)
                                 .where(rows_table.c.job_id == job_id)
                                 .where(rows_table.c.row.in_(sorted(erased_rows)))).all():
            errors = [{**error, "message": ERASED_TEXT}
                      for error in json.loads(item.errors or "[]")]
            conn.execute(update(rows_table).where(rows_table.c.job_id == job_id)
                         .where(rows_table.c.row == item.row)
                         .values(changes=None, previous=None,
                                 errors=json.dumps(errors) if errors else None))


def _blanked_csv(table, rows, erased_rows):
    """The file as CSV with the erased rows' cells emptied, every row at its number
    (blank lines keep the numbering of the rows after them)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.header)
    line = 1
    for number, cells in rows:
        while line + 1 < number:  # rows the reader skipped (blank ones)
            writer.writerow([])
            line += 1
        values = ["" if cell is None else str(cell) for cell in cells]
        if number in erased_rows:
            values = [""] * len(values)
        writer.writerow(values)
        line = number
    return ("\ufeff" + out.getvalue()).encode("utf-8")
