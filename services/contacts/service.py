"""The contacts service: nameko entrypoints over the Client aggregate."""
import uuid

from marshmallow import ValidationError
from nameko.dependency_providers import Config
from nameko.rpc import rpc

from services.common.context import CommandContext
from services.common.envelope import format_time, utc_now
from services.common.errors import NotFound, ValidationFailed
from services.common.extensions import EventSourcedStore, EventSourceRpc, HealthChecks
from services.common.migrations import migrator

from . import queries
from .domain import Client
from .schemas import NewClientSchema

migrate = migrator(__file__)


def validation_errors(exc):
    """marshmallow messages -> {"field.path": [messages]}."""
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            flat[prefix or "_schema"] = value if isinstance(value, list) else [value]

    walk("", exc.messages)
    return flat


class ContactsService(EventSourceRpc, HealthChecks):
    name = "contacts"

    config = Config()
    store = EventSourcedStore("contacts", migrate)

    @rpc
    def create_client(self, ctx, data):
        """Register a client; returns ``{"client", "position"}``."""
        ctx = CommandContext.load(ctx)
        try:
            fields = NewClientSchema().load(data or {})
        except ValidationError as exc:
            raise ValidationFailed("some fields are invalid", validation_errors(exc))
        client = Client(str(uuid.uuid4()))
        client.register(ctx.workspace, fields, format_time(utc_now()))
        with self.store.db.write() as conn:
            stored = self.store.events.append(
                client.id, 0, client.collect(), workspace=ctx.workspace,
                actor=ctx.actor, correlation_id=ctx.correlation_id, conn=conn)
            queries.project(conn, client, stored)
            record = queries.get_client(conn, ctx.workspace, client.id)
        return {"client": record, "position": stored[-1].position}

    @rpc
    def get_client(self, ctx, client_id):
        """The client as stored; ``NotFound`` if it is not in the caller's workspace."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            record = queries.get_client(conn, ctx.workspace, str(client_id))
        if record is None:
            raise NotFound("no such client")
        return record
