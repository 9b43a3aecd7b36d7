"""An in-process Clientfolio stack for integration tests.

Each service runs in its own nameko runner (its own HTTP port), against a
fresh vhost and fresh databases (SQLite files by default, PostgreSQL on
request), exactly the classes ``clientfolio serve`` runs.
"""
from contextlib import contextmanager

import pytest
import requests
from nameko.runners import ServiceRunner
from nameko.standalone.rpc import ClusterRpcProxy

from clientfolio.registry import service_class
from gateway import auth
from services.common.config import database_url, load_config
from services.common.db import forget_database, get_database
from tests.conftest import free_port
from tests.helpers import wait_until

SERVICES = ("contacts", "projects", "billing", "gateway")


class Stack:
    def __init__(self, amqp_uri, database_urls, classes=None, data_dir=None):
        self.amqp_uri = amqp_uri
        self.data_dir = data_dir
        self.database_urls = database_urls
        self.classes = classes or {}
        self.ports = {service: free_port() for service in SERVICES}
        self.runners = {}
        self._rpc = None
        self.extra_config = {}  # a test's own settings, before start()

    def config(self, service):
        return load_config(overrides={
            "AMQP_URI": self.amqp_uri,
            "DATABASE_URLS": self.database_urls,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.ports[service]}",
            "RELAY_POLL_INTERVAL": 0.2,
            **({"DATA_DIR": str(self.data_dir)} if self.data_dir else {}),
            **self.extra_config,
        })

    def start(self, *services):
        for service in services or SERVICES:
            runner = ServiceRunner(self.config(service))
            runner.add_service(self.classes.get(service) or service_class(service))
            runner.start()
            self.runners[service] = runner
        for service in services or SERVICES:
            wait_until(lambda: self.get(f"http://127.0.0.1:{self.ports[service]}/ready",
                                        auth=False).status_code == 200,
                       timeout=30, message=f"{service} ready")
        return self

    def stop(self, *services):
        for service in services or list(self.runners):
            runner = self.runners.pop(service, None)
            if runner is not None:
                runner.stop()

    def kill(self, *services):
        for service in services or list(self.runners):
            runner = self.runners.pop(service, None)
            if runner is not None:
                runner.kill()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def database(self, service):
        return get_database(database_url(self.config(service), service))

    def token(self, workspace="acme", role="admin"):
        from gateway.service import migrate

        url = database_url(self.config("gateway"), "gateway")
        migrate(url)
        return auth.create_token(get_database(url), workspace, role)[1]

    def session(self, workspace="acme", role="admin"):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token(workspace, role)}"
        return session

    def get(self, url, auth=True, **kwargs):
        return requests.get(url, timeout=10, **kwargs)

    @property
    def rpc(self):
        if self._rpc is None:
            self._proxy = ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=30)
            self._rpc = self._proxy.start()
        return self._rpc

    def close(self):
        if self._rpc is not None:
            self._proxy.stop()
        self.kill()
        # Close the pooled connections now: a long run must not pile them up on the server.
        for url in self.database_urls.values():
            forget_database(url)


def sqlite_urls(directory):
    """A SQLite file per service in ``directory``."""
    return {service: f"sqlite:///{directory / f'{service}.db'}" for service in SERVICES}


@contextmanager
def running(stack):
    """``stack`` started, and closed afterwards (also when it failed to start)."""
    try:
        yield stack.start()
    finally:
        stack.close()


@pytest.fixture
def make_stack(amqp_uri, tmp_path, request):
    stacks = []

    def make(databases="sqlite", classes=None):
        if databases == "postgres":
            postgres = request.getfixturevalue("postgres")
            urls = {service: postgres.create(service) for service in SERVICES}
        else:
            urls = sqlite_urls(tmp_path)
        stack = Stack(amqp_uri, urls, classes, data_dir=tmp_path / "data")
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture
def stack(make_stack):
    """Every service and the gateway, running, on SQLite."""
    return make_stack().start()
