"""Root fixtures. Tests talk to the real servers, isolated per test run:

- RabbitMQ: a vhost created for each test that needs the broker, deleted after;
  never the default vhost a developer's running services use.
- PostgreSQL: databases created for the run (``cf_test_<run>_<n>``), dropped after.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402 -- must run before anything imports sockets

import os
import shutil
import socket
import subprocess
import urllib.parse
import uuid

import pytest
import sqlalchemy
from sqlalchemy import text

RABBIT_HOST = os.environ.get("CLIENTFOLIO_TEST_RABBIT", "amqp://guest:guest@127.0.0.1:5672")
POSTGRES_URL = os.environ.get("CLIENTFOLIO_TEST_POSTGRES",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
RUN_ID = uuid.uuid4().hex[:8]
# Run apart (make test): Playwright cannot drive a browser from an eventlet-patched process.
collect_ignore = ["browser"]


def _rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def _erlang_binaries(names):
    return "[" + ", ".join(f'<<"{name}">>' for name in names) + "]"


class VhostFactory:
    """Fresh vhosts, made a batch at a time with one ``rabbitmqctl eval`` (each
    rabbitmqctl call boots an Erlang VM: one per batch instead of two per test)."""

    BATCH = 8

    def __init__(self):
        self.created = []
        self.pool = []
        self.counter = 0
        self.user = urllib.parse.urlparse(RABBIT_HOST).username or "guest"

    def _names(self, count):
        names = []
        for _ in range(count):
            self.counter += 1
            names.append(f"cf-test-{RUN_ID}-{self.counter}")
        return names

    def _make_batch(self):
        names = self._names(self.BATCH)
        code = ("lists:foreach(fun(V) -> ok = rabbit_vhost:add(V, <<\"cf-test\">>), "
                "ok = rabbit_auth_backend_internal:set_permissions("
                f"<<\"{self.user}\">>, V, <<\".*\">>, <<\".*\">>, <<\".*\">>, "
                f"<<\"cf-test\">>) end, {_erlang_binaries(names)}), ok.")
        try:
            _rabbitmqctl("eval", code)
        except subprocess.CalledProcessError:  # another broker version: one at a time
            for name in names:
                _rabbitmqctl("add_vhost", name)
                _rabbitmqctl("set_permissions", "-p", name, self.user, ".*", ".*", ".*")
        self.created += names
        self.pool += names

    def create(self):
        if not self.pool:
            self._make_batch()
        name = self.pool.pop(0)
        return f"{RABBIT_HOST}/{urllib.parse.quote(name, safe='')}"

    def delete_all(self):
        if not self.created:
            return
        code = (f"lists:foreach(fun(V) -> rabbit_vhost:delete(V, <<\"cf-test\">>) end, "
                f"{_erlang_binaries(self.created)}), ok.")
        try:
            _rabbitmqctl("eval", code)
        except subprocess.CalledProcessError:
            for name in self.created:
                subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name],
                               capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def vhosts():
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is needed to create the test vhosts")
    factory = VhostFactory()
    yield factory
    factory.delete_all()


@pytest.fixture
def amqp_uri(vhosts):
    """A fresh, empty RabbitMQ vhost for this test."""
    return vhosts.create()


class PostgresDatabases:
    def __init__(self):
        from services.common.db import driver_url

        self.admin = sqlalchemy.create_engine(driver_url(POSTGRES_URL), isolation_level="AUTOCOMMIT",
                                              poolclass=sqlalchemy.pool.NullPool)
        self.created = []

    def create(self, label="db"):
        name = f"cf_test_{RUN_ID}_{len(self.created) + 1}_{label}"[:63]
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"

    def drop_all(self):
        from services.common.db import forget_database

        with self.admin.connect() as conn:
            for name in self.created:
                forget_database(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres():
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture
def postgres_url(postgres):
    return postgres.create()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """Run the test on both supported databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres").create(request.node.name[:20].lower()
                                                       .replace("[", "_").replace("]", ""))


_ports_handed_out = set()


def free_port():
    """A port nothing listens on, never the same one twice in a test run.

    The services listen with SO_REUSEPORT (eventlet's default): two services given the
    same port would both bind it and share its connections, so a test stack's gateway
    URL would reach its contacts service now and then (404). A port the kernel hands
    out again after its probe socket closed is therefore skipped."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _ports_handed_out:
            _ports_handed_out.add(port)
            return port
