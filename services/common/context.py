"""The command context every RPC write receives as its first argument.

``{"workspace": str, "actor": str | None, "correlation_id": str | None}``.
The gateway fills it from the caller's token (never from the request body);
services only check that it names a workspace.
"""
from dataclasses import dataclass

from .errors import BadRequest


@dataclass(frozen=True)
class CommandContext:
    workspace: str
    actor: str | None = None
    correlation_id: str | None = None

    @classmethod
    def load(cls, ctx):
        if isinstance(ctx, CommandContext):
            return ctx
        if isinstance(ctx, str):
            ctx = {"workspace": ctx}
        if not isinstance(ctx, dict) or not isinstance(ctx.get("workspace"), str) \
                or not ctx["workspace"]:
            raise BadRequest("the call context must name a workspace")
        return cls(ctx["workspace"], ctx.get("actor"), ctx.get("correlation_id"))

    def to_dict(self):
        return {"workspace": self.workspace, "actor": self.actor,
                "correlation_id": self.correlation_id}
