"""A RabbitMQ node of the test run's own (its own ports, name and data directory), for
tests that kill the broker: never the machine's shared broker."""
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from kombu import Connection

from tests.conftest import RUN_ID, free_port
from tests.helpers import wait_until


def _rabbitmq_user():
    try:
        entry = pwd.getpwnam("rabbitmq")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


class PrivateBroker:
    """``start``, ``kill`` (as ``kill -9``: the Erlang VM dies) and ``start`` again on
    the same data, as an orchestrator restarts a crashed broker."""

    def __init__(self, name="chaos"):
        # Its own folder under the system's temporary directory: the broker runs as the
        # rabbitmq user, who cannot enter the test's (root-only) temporary folders.
        self.directory = Path(tempfile.mkdtemp(prefix=f"cf-{RUN_ID}-{name}-"))
        directory = self.directory
        self.node = f"cf-{RUN_ID}-{name}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.process = None
        (directory / "enabled_plugins").write_text("[].\n")
        owner = _rabbitmq_user()
        if owner is not None and os.geteuid() == 0:
            # The Debian start script runs the broker as the rabbitmq user.
            for path in [directory, *directory.rglob("*")]:
                os.chown(path, *owner)

    @property
    def url(self):
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self):
        base = str(self.directory)
        return dict(os.environ, RABBITMQ_NODENAME=self.node,
                    RABBITMQ_NODE_PORT=str(self.port), RABBITMQ_DIST_PORT=str(self.dist_port),
                    RABBITMQ_MNESIA_BASE=f"{base}/mnesia",
                    RABBITMQ_MNESIA_DIR=f"{base}/mnesia/{self.node}",
                    RABBITMQ_FEATURE_FLAGS_FILE=f"{base}/feature_flags",
                    RABBITMQ_PLUGINS_EXPAND_DIR=f"{base}/plugins",
                    RABBITMQ_LOG_BASE=f"{base}/log",
                    RABBITMQ_ENABLED_PLUGINS_FILE=f"{base}/enabled_plugins",
                    RABBITMQ_CONFIG_FILE=f"{base}/rabbitmq",
                    ERL_CRASH_DUMP=f"{base}/erl_crash.dump")

    def start(self, timeout=60, wait=True):
        server = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
        log = open(self.directory / "server.out", "a", encoding="utf-8")
        self.process = subprocess.Popen([server], env=self._env(), stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        if wait:
            self.wait_up(timeout)
        return self

    def wait_up(self, timeout=60):
        wait_until(self.answers, timeout=timeout, interval=0.1, message=f"{self.node} up")

    def answers(self):
        try:
            with Connection(self.url, connect_timeout=1) as connection:
                connection.connect()
            return True
        except Exception:
            return False

    def _vm_pids(self):
        """The broker's Erlang processes: those started with this node's name."""
        wanted = f"RABBITMQ_NODENAME={self.node}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if wanted in (entry / "environ").read_bytes().split(b"\0"):
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return [pid for pid in pids if pid != os.getpid()]

    def kill(self):
        """Kill the broker's processes with SIGKILL; returns once the port is closed."""
        for pid in self._vm_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        wait_until(lambda: not self.answers(), timeout=10, message=f"{self.node} down")

    def close(self):
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def rabbitmqctl(node, *args, timeout=60):
    """Run ``rabbitmqctl -n <node> ...``; returns its output (fails the test on an error)."""
    result = subprocess.run(["rabbitmqctl", "-n", node, "-q", *args], capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"rabbitmqctl {' '.join(args)}: {result.stderr}"
    return result.stdout


class BrokerCluster:
    """Three (``size``) private RabbitMQ nodes on distinct ports, joined into one
    cluster with ``rabbitmqctl join_cluster`` (the Erlang cookie is the rabbitmq
    user's, shared by every node it runs)."""

    def __init__(self, size=3, name="cluster"):
        self.nodes = [PrivateBroker(f"{name}{index}") for index in range(1, size + 1)]

    @property
    def url(self):
        """Every node's URL, ``;``-separated: kombu fails over in this order."""
        return ";".join(node.url for node in self.nodes)

    def start(self):
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_up(timeout=90)
        first = self.nodes[0].node
        for node in self.nodes[1:]:
            rabbitmqctl(node.node, "stop_app")
            rabbitmqctl(node.node, "join_cluster", first)
            rabbitmqctl(node.node, "start_app")
        for node in self.nodes:
            node.wait_up(timeout=60)
        return self

    def running_nodes(self, via):
        """The cluster's running nodes, as ``via`` (a live node) sees them."""
        import json

        status = json.loads(rabbitmqctl(via.node, "cluster_status", "--formatter", "json"))
        return sorted(status.get("running_nodes", []))

    def close(self):
        for node in self.nodes:
            node.close()
