"""Clientfolio services as real processes (``clientfolio serve``), for tests that kill
them: each its own process, its own HTTP port, the run's vhost and databases."""
import os
import signal
import subprocess
import sys

import requests

from tests.conftest import free_port
from tests.helpers import wait_until

SERVICES = ("contacts", "projects", "billing", "gateway")


class ServiceProcess:
    """One ``clientfolio serve <service>`` child; its output goes to a log file."""

    def __init__(self, service, env, log_dir, name=None):
        self.service = service
        self.name = name or service
        self.port = free_port()
        self.env = dict(env, CLIENTFOLIO_HTTP_PORT=str(self.port), PYTHONUNBUFFERED="1")
        self.log_path = log_dir / f"{self.name}.log"
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, fault=None, wait=True):
        env = dict(self.env, CLIENTFOLIO_FAULT=fault or "")
        log = open(self.log_path, "a", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "clientfolio.cli", "serve", self.service], env=env,
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def ready(self):
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n"
                                 + self.log_tail())
        try:
            return requests.get(f"{self.url}/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout=60):
        wait_until(self.ready, timeout=timeout, interval=0.1, message=f"{self.name} ready")

    def wait_exit(self, timeout=30):
        """The exit code once the process ended by itself."""
        wait_until(lambda: self.process.poll() is not None, timeout=timeout, interval=0.05,
                   message=f"{self.name} to exit")
        return self.process.returncode

    def kill(self):
        """``kill -9``: no clean-up at all."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self, fault=None, wait=True):
        self.kill()
        return self.start(fault, wait)

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, encoding="utf-8") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""


class ProcessStack:
    """Every service and a gateway as processes on one vhost and one set of databases."""

    def __init__(self, amqp_uri, database_urls, tmp_path, **settings):
        self.amqp_uri = amqp_uri
        self.database_urls = database_urls
        self.log_dir = tmp_path / "logs"
        self.log_dir.mkdir(exist_ok=True)
        env = dict(os.environ, AMQP_URI=amqp_uri, CLIENTFOLIO_DATA_DIR=str(tmp_path / "var"),
                   CLIENTFOLIO_RELAY_POLL_INTERVAL="0.2", CLIENTFOLIO_LOG_LEVEL="INFO",
                   # Small pools: several stacks of processes share the server's
                   # connections with the rest of the test run.
                   CLIENTFOLIO_DB_POOL_SIZE="4", CLIENTFOLIO_DB_MAX_OVERFLOW="6",
                   **{f"{service.upper()}_DATABASE_URL": url
                      for service, url in database_urls.items()},
                   **{key: str(value) for key, value in settings.items()})
        env.pop("CLIENTFOLIO_CONFIG", None)
        self.env = env
        self.processes = {service: ServiceProcess(service, env, self.log_dir)
                          for service in SERVICES}

    def __getitem__(self, name):
        return self.processes[name]

    def add_gateway(self, name):
        """Another gateway replica (same databases and broker)."""
        self.processes[name] = ServiceProcess("gateway", self.env, self.log_dir, name)
        return self.processes[name]

    def start(self):
        for process in self.processes.values():
            process.start(wait=False)
        for process in self.processes.values():
            process.wait_ready()
        return self

    def close(self):
        for process in self.processes.values():
            process.kill()

    def token(self, workspace="acme", role="admin"):
        from gateway import auth
        from gateway.service import migrate
        from services.common.db import get_database

        migrate(self.database_urls["gateway"])
        return auth.create_token(get_database(self.database_urls["gateway"]), workspace,
                                 role)[1]
