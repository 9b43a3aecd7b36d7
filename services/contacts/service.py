"""The contacts service: nameko RPC over the Client and Merge aggregates.

Every method takes the call context ``ctx`` first (``{"workspace", "actor",
"correlation_id"}``): a client of another workspace is exactly like an unknown one
(``NotFound``). Writes load the aggregate from its stream, run the command, and in one
transaction append the events and update the query tables (``writes.py``); they answer
``{"client": ..., "position": <position of the client's last event>}``. See
docs/rpc-contacts.md for every method and its errors.

The service is its dependencies, the clients' entrypoints below, and a group of
entrypoints per job, each in its own module: ``merges`` (duplicates and merges),
``attachments`` (photo and files), ``uploads`` (large files in parts), ``imports``
(import jobs).
"""
import uuid

from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider

from services.common.context import CommandContext
from services.common.envelope import format_time, utc_now
from services.common.errors import BadRequest, NotFound
from services.common.extensions import (EventConsumerProvider, EventSourcedStore,
                                        EventSourceRpc, HealthChecks)
from services.common.migrations import migrator
from services.common.paging import offset_page
from services.common.rpc import RpcProxy, rpc  # typed errors are answers: logged as expected

from . import files as file_rules
from . import queries
from . import spreadsheets
from . import timeline
from .attachments import ClientFilesRpc
from .domain import Client
from .imports import ClientImportsRpc, ImportRunner
from .merges import MergesRpc
from .privacy import ErasureRpc, missing_client
from .sealing import PERSONAL
from .schemas import flatten_errors, validate_client  # noqa: F401  (flatten_errors: API)
from .uploads import UploadsRpc
from .validation import duplicate_keys
from .writes import TAX_FIELDS, ClientWrites, canonical_uuid, project_changes, tax_conflict

migrate = migrator(__file__)


def validation_errors(exc):
    """marshmallow messages -> {"field.path": [messages]} (kept for callers)."""
    return flatten_errors(exc.messages)


def _expected(expected_version):
    if expected_version is None:
        return None
    if isinstance(expected_version, bool) or not isinstance(expected_version, int) \
            or expected_version < 1:
        raise BadRequest("the expected version must be a positive whole number",
                         {"If-Match": ["expected a version such as \"3\""]})
    return expected_version


class SpreadsheetLimits(DependencyProvider):
    """Applies the config's ``IMPORT_MAX_*`` limits to every file this process reads."""

    def setup(self):
        spreadsheets.configure(self.container.config)


class ContactsService(MergesRpc, ClientFilesRpc, ClientImportsRpc, UploadsRpc, ErasureRpc,
                      ClientWrites, EventSourceRpc, HealthChecks):
    name = "contacts"

    config = Config()
    # Personal fields are stored sealed with a key per client (privacy.py).
    store = EventSourcedStore("contacts", migrate, projector=project_changes, personal=PERSONAL)
    # The events this service keeps: projects' and billing's events naming a client, for
    # its history (``timeline.HANDLERS``).
    consumer = EventConsumerProvider("contacts", "contacts", migrate, timeline.HANDLERS)
    storage = file_rules.FileStorageProvider()
    projects_rpc = RpcProxy("projects")
    billing_rpc = RpcProxy("billing")
    import_runner = ImportRunner()
    spreadsheet_limits = SpreadsheetLimits()

    # -- clients ---------------------------------------------------------------------------

    @rpc
    def create_client(self, ctx, data):
        """Register a client; returns ``{"client", "position"}``."""
        ctx = CommandContext.load(ctx)
        fields = validate_client(data)
        client_id = ctx.new_id("client")

        def command(uow):
            conn = uow.conn
            client = Client(client_id)
            client.register(ctx.workspace, fields, format_time(utc_now()))
            holder = queries.tax_id_holder(conn, ctx.workspace, client.state())
            if holder:
                raise tax_conflict(holder)
            self._save(uow, client)
            return self._answer(conn, ctx, client)

        return self._write(ctx, "create_client", command)

    @rpc
    def get_client(self, ctx, client_id):
        """The client as stored; ``NotFound`` if it is not in the caller's workspace."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            record = queries.get_client(conn, ctx.workspace, str(client_id))
            if record is None:
                raise missing_client(conn, ctx.workspace, client_id)
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

        def command(uow):
            conn = uow.conn
            client = self._load(uow, ctx, client_id)
            self._check_version(client, expected_version)
            client.ensure_active()
            values = validate_client(changes, partial=True, current=client.state())
            client.update(values)
            if client.pending and any(name in client.pending[0].data["changes"]
                                      for name in TAX_FIELDS):
                holder = queries.tax_id_holder(conn, ctx.workspace, client.state(),
                                               exclude=[client.id])
                if holder:
                    raise tax_conflict(holder)
            self._save(uow, client)
            return self._answer(conn, ctx, client)

        return self._write(ctx, "update_client", command, expected_version)

    @rpc
    def archive_client(self, ctx, client_id, expected_version=None):
        """Archive a client (it can still be read); 409 if it is already archived."""
        ctx = CommandContext.load(ctx)
        expected_version = _expected(expected_version)

        def command(uow):
            conn = uow.conn
            client = self._load(uow, ctx, client_id)
            self._check_version(client, expected_version)
            client.archive()
            self._save(uow, client)
            return self._answer(conn, ctx, client)

        return self._write(ctx, "archive_client", command, expected_version)

    @rpc
    def restore_client(self, ctx, client_id, expected_version=None):
        """Restore an archived client; 409 if it is not archived, was merged (unmerge
        instead), or another client took its tax id meanwhile (``existing_id``)."""
        ctx = CommandContext.load(ctx)
        expected_version = _expected(expected_version)

        def command(uow):
            conn = uow.conn
            client = self._load(uow, ctx, client_id)
            self._check_version(client, expected_version)
            client.restore()
            holder = queries.tax_id_holder(conn, ctx.workspace, client.state(),
                                           exclude=[client.id])
            if holder:
                raise tax_conflict(holder)
            self._save(uow, client)
            return self._answer(conn, ctx, client)

        return self._write(ctx, "restore_client", command, expected_version)

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
        stream_id = canonical_uuid(client_id)
        if stream_id is None:
            raise NotFound("no such client")
        with self.store.db.read() as conn:
            events = self.store.events.read_stream(stream_id, conn=conn)
            Client.rehydrate(stream_id, events).ensure_in(ctx.workspace)
            items = timeline.client_history(conn, events, ctx.workspace, stream_id)
        return offset_page(items, limit, cursor, "history")
