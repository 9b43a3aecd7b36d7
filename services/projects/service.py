"""The projects service: nameko entrypoints (walking skeleton: events and health)."""
from nameko.dependency_providers import Config

from services.common.extensions import EventSourcedStore, EventSourceRpc, HealthChecks
from services.common.migrations import migrator

migrate = migrator(__file__)


class ProjectsService(EventSourceRpc, HealthChecks):
    name = "projects"

    config = Config()
    store = EventSourcedStore("projects", migrate)
