"""The gateway: the public HTTP API, auth, and the overview read model's projector.

The projector (``EventConsumerProvider``) runs in every gateway replica but is
active in one only per source (leader election): several replicas serve HTTP
from one read-model database while the projection work is never done twice.
"""
from nameko.dependency_providers import Config
from nameko.rpc import RpcProxy

from services.common.db import DatabaseProvider
from services.common.extensions import EventConsumerProvider
from services.common.migrations import migrator

from .api.billing import BillingApi
from .api.clients import ClientsApi
from .api.overview import OverviewApi
from .api.projects import ProjectsApi
from .api.system import SystemApi
from .projections import HANDLERS

migrate = migrator(__file__)


class GatewayService(SystemApi, ClientsApi, OverviewApi, ProjectsApi, BillingApi):
    name = "gateway"

    config = Config()
    db = DatabaseProvider("gateway", migrate)
    projector = EventConsumerProvider("gateway", "gateway", migrate, HANDLERS)
    contacts_rpc = RpcProxy("contacts")
    projects_rpc = RpcProxy("projects")
    billing_rpc = RpcProxy("billing")

    @staticmethod
    def command_context(request, principal):
        return {"workspace": principal.workspace, "actor": principal.actor,
                "correlation_id": request.headers.get("X-Correlation-Id")}
