import pytest

from services.common.db import Database
from services.common.eventstore import EventStore
from services.projects.service import migrate


@pytest.fixture
def database(database_url):
    """A migrated service database (the projects schema: event store + inbox)."""
    migrate(database_url)
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def store(database):
    return EventStore(database)
