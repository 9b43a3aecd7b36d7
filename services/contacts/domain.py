"""The Client aggregate and its events. Pure: no I/O."""
from services.common.aggregate import Aggregate
from services.common.errors import Conflict, NotFound

CLIENT_REGISTERED = "ClientRegistered"


class Client(Aggregate):
    """A client of a workspace (a company or a person)."""

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.workspace = None
        self.fields = {}
        self.archived = False
        self.created_at = None

    # -- commands ----------------------------------------------------------------

    def register(self, workspace, fields, created_at):
        if self.exists:
            raise Conflict("this client already exists")
        self._record(CLIENT_REGISTERED, {
            "client_id": self.id, "workspace": workspace, "created_at": created_at,
            **fields,
        })

    def ensure_in(self, workspace):
        """Raise ``NotFound`` unless the client exists in ``workspace``."""
        if not self.exists or self.workspace != workspace:
            raise NotFound("no such client")

    # -- state changes -------------------------------------------------------------

    def apply_client_registered(self, data):
        self.workspace = data["workspace"]
        self.created_at = data["created_at"]
        self.fields = {k: v for k, v in data.items()
                       if k not in ("client_id", "workspace", "created_at")}
