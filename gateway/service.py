"""The gateway: the public HTTP API, auth, and the overview read model's projector.

The projector (``EventConsumerProvider``) runs in every gateway replica but is
active in one only per source (leader election): several replicas serve HTTP
from one read-model database while the projection work is never done twice.
"""
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider

from services.common.config import database_url
from services.common.db import DatabaseProvider, get_database
from services.common.extensions import EventConsumerProvider
from services.common.migrations import migrator
from services.common.rpc import RpcProxy

from .api.billing import BillingApi
from .api.clients import ClientsApi
from .api.imports import ClientImportsApi
from .api.overview import OverviewApi
from .api.privacy import PrivacyApi
from .api.projects import ProjectsApi
from .api.system import SystemApi
from .consistency import ConsistencyTokensProvider
from .http import SOURCES, request_command_id
from .projections import HANDLERS, REVEALED_SOURCES
from .ratelimit import RateLimiterProvider
from .readmodel import read_model_for
from .web.billing import BillingPages
from .web.duplicates import DuplicatePages
from .web.imports import WebImports
from .web.pages import WebApp
from .web.projects import ProjectPages
from .webhooks.api import WebhooksApi
from .webhooks.provider import WebhooksProvider, webhook_consumer

migrate = migrator(__file__)


class ReadModelProvider(DependencyProvider):
    """Injects the gateway's ``ReadModel`` (live generation, tables, inbox)."""

    def setup(self):
        url = database_url(self.container.config, "gateway")
        migrate(url)
        self.read_model = read_model_for(get_database(url))

    def get_dependency(self, worker_ctx):
        return self.read_model


def live_inbox(database):
    """The consumer applies to whichever read-model generation is live."""
    migrate(database.url)
    model = read_model_for(database)
    return lambda: model.inbox()


class GatewayService(SystemApi, ClientImportsApi, ClientsApi, OverviewApi, ProjectsApi,
                     BillingApi, PrivacyApi, WebhooksApi, WebApp, ProjectPages,
                     BillingPages, DuplicatePages, WebImports):
    name = "gateway"

    config = Config()
    db = DatabaseProvider("gateway", migrate)
    read_model = ReadModelProvider()
    projector = EventConsumerProvider("gateway", "gateway", migrate, HANDLERS,
                                      inbox_factory=live_inbox, reveal=REVEALED_SOURCES)
    contacts_rpc = RpcProxy("contacts")
    projects_rpc = RpcProxy("projects")
    billing_rpc = RpcProxy("billing")
    rate_limiter = RateLimiterProvider()
    consistency_tokens = ConsistencyTokensProvider(SOURCES)
    webhooks = WebhooksProvider(migrate)
    webhooks_consumer = webhook_consumer(migrate)

    @staticmethod
    def command_context(request, principal):
        """The context of the request's RPC calls (services/common/context.py)."""
        return {"workspace": principal.workspace, "actor": principal.actor,
                "correlation_id": request.headers.get("X-Correlation-Id"),
                "command_id": request_command_id(request)}
