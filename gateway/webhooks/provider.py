"""The gateway's webhooks dependencies: the consumer that feeds the delivery outbox
and the deliverer that empties it (both run in every gateway replica: the consumer
is active in one per source, the deliverers share the lanes)."""
from nameko.extensions import DependencyProvider

from services.common.config import database_url
from services.common.db import get_database
from services.common.extensions import EventConsumerProvider, stop_within
from services.common.inbox import Inbox

from ..projections import REVEALED_SOURCES
from . import intake, tables
from .delivery import Deliverer
from .targets import TargetPolicy, flag

SOURCES = ("contacts", "projects", "billing")
CONSUMER = "webhooks"
# Set by a batch that created deliveries; the commit listener wakes this process's
# deliverer (other replicas find them at their next poll).
PRODUCED = intake.Produced()


def webhook_inbox(database):
    return Inbox(database, CONSUMER, {source: {} for source in SOURCES},
                 tables=tables.inbox_tables, unit_of_work=intake.unit_of_work(PRODUCED))


def webhook_consumer(migrate):
    """The ``webhooks`` consumer of every source, into the gateway's database."""
    # Integrators get clients' names and emails as the API shows them: contacts' sealed
    # personal fields are opened by contacts (blank once the client is erased).
    return EventConsumerProvider(CONSUMER, "gateway", migrate,
                                 {source: {} for source in SOURCES},
                                 inbox_factory=lambda database: (migrate(database.url),
                                                                 webhook_inbox(database))[1],
                                 reveal=REVEALED_SOURCES)


class Webhooks:
    """What the API's workers get: the database and the target policy."""

    def __init__(self, database, policy):
        self.database = database
        self.policy = policy


class WebhooksProvider(DependencyProvider):
    def __init__(self, migrate):
        self.migrate = migrate
        self.deliverer = None
        self.webhooks = None
        self._threads = []

    def setup(self):
        config = self.container.config
        url = database_url(config, "gateway")
        self.migrate(url)
        database = get_database(url)
        self.webhooks = Webhooks(database, TargetPolicy.from_config(config))
        if flag(config.get("WEBHOOKS_DELIVER", True)):
            self.deliverer = Deliverer(database, config)
            database.on_commit(self._committed)

    def _committed(self):
        if PRODUCED.flag:
            PRODUCED.flag = False
            self.deliverer.wake()

    def start(self):
        if self.deliverer is not None:
            self._threads.append(self.container.spawn_managed_thread(
                self.deliverer.run, identifier="gateway.webhooks.deliverer"))

    def stop(self):
        if self.deliverer is not None:
            self.deliverer.stop()
            self.webhooks.database.remove_commit_listener(self._committed)
        stop_within(self._threads)

    def kill(self):
        if self.deliverer is not None:
            self.deliverer.stop()

    def get_dependency(self, worker_ctx):
        return self.webhooks
