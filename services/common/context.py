"""The command context every RPC write receives as its first argument.

``{"workspace": str, "actor": str | None, "correlation_id": str | None,
"command_id": str | None}``. The gateway fills it from the caller's token (never
from the request body) and gives each request a command id (its Idempotency-Key's,
else a new one); services only check that it names a workspace. An RPC request
without a command id gets its request's (``rpc.py``), which a redelivery keeps.
"""
import uuid
from dataclasses import dataclass

from .errors import BadRequest

MAX_COMMAND_ID = 250
# Ids of things a command creates are derived from its id in this namespace, so a
# command run twice names the same client, invoice or time entry both times.
_CREATED_IDS = uuid.UUID("5b0c9f0e-6f2a-4c1d-9a57-2f7d1c3e8b41")


@dataclass(frozen=True)
class CommandContext:
    workspace: str
    actor: str | None = None
    correlation_id: str | None = None
    command_id: str | None = None

    @classmethod
    def load(cls, ctx):
        if isinstance(ctx, CommandContext):
            return ctx
        if isinstance(ctx, str):
            ctx = {"workspace": ctx}
        if not isinstance(ctx, dict) or not isinstance(ctx.get("workspace"), str) \
                or not ctx["workspace"]:
            raise BadRequest("the call context must name a workspace")
        command_id = ctx.get("command_id")
        if command_id is not None and (not isinstance(command_id, str)
                                       or not 0 < len(command_id) <= MAX_COMMAND_ID):
            raise BadRequest(f"a command id is a text of 1-{MAX_COMMAND_ID} characters")
        return cls(ctx["workspace"], ctx.get("actor"), ctx.get("correlation_id"), command_id)

    def new_id(self, purpose=""):
        """The id of something this command creates: the same every time the command
        runs (derived from its id), a fresh random one for a command without id."""
        if not self.command_id:
            return str(uuid.uuid4())
        return str(uuid.uuid5(_CREATED_IDS, f"{self.workspace}\n{self.command_id}\n{purpose}"))

    def to_dict(self):
        return {"workspace": self.workspace, "actor": self.actor,
                "correlation_id": self.correlation_id, "command_id": self.command_id}
