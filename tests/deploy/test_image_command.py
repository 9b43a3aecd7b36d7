"""The image's command, exercised without a Docker engine.

The command line comes from the Dockerfile's ENTRYPOINT with the arguments
Compose (``command:``) and Kubernetes (``args:``) give it; the environment is
the image's ENV plus the variables Compose and Kubernetes set, by the same
names, pointed at this test's RabbitMQ vhost and fresh PostgreSQL databases.
Every service must become ready (``GET /ready`` 200), pass the image's and
Compose's health checks and the Kubernetes probes, then stop on SIGTERM with
exit status 0 within its grace period.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy

from services.common.db import driver_url
from sqlalchemy import text

from tests.conftest import POSTGRES_URL, free_port
from tests.helpers import wait_until

from .deployfiles import (
    DEPLOY,
    K8S_BASE,
    SERVICES,
    database_variable,
    duration_seconds,
    exec_form,
    find,
    healthcheck,
    kustomize,
    load_compose,
    parse_dockerfile,
    stage_env,
)

# Where the image puts the installed distribution, and where it is here.
IMAGE_VENV_BIN = "/opt/clientfolio/bin"
LOCAL_VENV_BIN = str(Path(sys.executable).parent)
START_TIMEOUT = 45


def image_environment(data_dir):
    """The runtime stage's ENV, with this machine's virtualenv for the image's."""
    runtime = parse_dockerfile()[-1]
    env = stage_env(runtime, {"PATH": "/usr/local/bin:/usr/bin:/bin"})
    env["PATH"] = env["PATH"].replace(IMAGE_VENV_BIN, LOCAL_VENV_BIN)
    assert env["PATH"].split(":")[0] == LOCAL_VENV_BIN
    env["CLIENTFOLIO_DATA_DIR"] = str(data_dir)  # the image's /var/lib/clientfolio
    return env


def image_argv(arguments, env):
    """ENTRYPOINT + the arguments, the executable found on the image's PATH."""
    entrypoint = exec_form(parse_dockerfile()[-1].last("ENTRYPOINT"))
    argv = [*entrypoint, *arguments]
    executable = shutil.which(argv[0], path=env["PATH"])
    assert executable and Path(executable).parent == Path(LOCAL_VENV_BIN), \
        f"{argv[0]} must be the installed console script, found {executable}"
    return [executable, *argv[1:]]


def http_status(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


class Process:
    def __init__(self, name, argv, env, cwd, log_path):
        self.name, self.env, self.log_path = name, env, log_path
        self.port = int(env.get("CLIENTFOLIO_HTTP_PORT", 0))
        self.log = open(log_path, "wb")
        self.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self.log,
                                      stderr=subprocess.STDOUT)

    def output(self):
        self.log.flush()
        return Path(self.log_path).read_text(errors="replace")

    def stop(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)
        self.log.close()


@pytest.fixture
def processes():
    started = []
    yield started
    for process in started:
        process.stop()


def run_once(argv, env, cwd):
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def start_all(processes, commands, tmp_path):
    """Start one process per (name, argv, env), as a container runtime would."""
    for name, argv, env in commands:
        processes.append(Process(name, argv, env, cwd=tmp_path / name,
                                 log_path=tmp_path / f"{name}.log"))
    for process in processes:
        def ready(process=process):
            assert process.popen.poll() is None, \
                f"{process.name} exited {process.popen.returncode}:\n{process.output()}"
            return http_status(process.port, "/ready") == 200
        try:
            wait_until(ready, timeout=START_TIMEOUT, interval=0.2,
                       message=f"{process.name} to answer /ready with 200")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{process.output()}") from None


def check_command(command, env):
    """Run a container health check command (exec form) in the service's environment."""
    argv = [shutil.which(command[0], path=env["PATH"]), *command[1:]]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{command}: {result.stderr}"


def stop_all(processes, grace_seconds):
    """SIGTERM to every process at once; each must exit 0 within its grace period."""
    for process in processes:
        process.popen.send_signal(signal.SIGTERM)
    started = time.monotonic()
    for process, grace in zip(processes, grace_seconds):
        remaining = max(0.1, grace - (time.monotonic() - started))
        try:
            code = process.popen.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{process.name} did not stop within {grace} s of SIGTERM:\n"
                                 f"{process.output()}")
        assert code == 0, f"{process.name} exited {code}:\n{process.output()}"
        assert f"{process.name} stopped" in process.output()


def event_queues(amqp_uri):
    """{name: type} of the consumers' event queues (``<consumer>.<source>``) in the vhost."""
    vhost = urllib.parse.unquote(urllib.parse.urlparse(amqp_uri).path[1:])
    listing = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    pattern = re.compile(rf"^({'|'.join(SERVICES)})\.({'|'.join(SERVICES)})$")
    queues = {}
    for line in listing.splitlines():
        words = line.split()
        if len(words) == 2 and pattern.match(words[0]):
            queues[words[0]] = words[1]
    return queues


def assert_event_queue_type(amqp_uri, expected):
    # The gateway's overview projector consumes contacts events: its queue shows
    # up once its consumer has been elected.
    def declared():
        queues = event_queues(amqp_uri)
        return queues if "gateway.contacts" in queues else None

    queues = wait_until(declared, timeout=20, interval=0.5, message="gateway.contacts queue")
    assert set(queues.values()) == {expected}, queues


# -- Compose --------------------------------------------------------------------------------

def compose_database_url(url, database):
    """The Compose URL (host `postgres`, database = service) aimed at this test's server."""
    server = sqlalchemy.engine.make_url(POSTGRES_URL)
    parsed = sqlalchemy.engine.make_url(url)
    return parsed.set(host=server.host, port=server.port, database=database,
                      username=database).render_as_string(hide_password=False)


@pytest.fixture
def compose_databases():
    """The init script of the Compose postgres service, run on this test's server:
    one database and owner role per service (unique names), dropped after."""
    prefix = f"cf_test_compose_{uuid.uuid4().hex[:8]}"
    names = {service: f"{prefix}_{service}" for service in SERVICES}
    server = sqlalchemy.engine.make_url(POSTGRES_URL)
    postgres = load_compose()["services"]["postgres"]["environment"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PGHOST": server.host or "127.0.0.1",
           "PGPORT": str(server.port or 5432), "POSTGRES_USER": server.username or "postgres",
           "CLIENTFOLIO_DB_PASSWORD": postgres["CLIENTFOLIO_DB_PASSWORD"],
           "CLIENTFOLIO_DATABASES": " ".join(names[s] for s in
                                             postgres["CLIENTFOLIO_DATABASES"].split())}
    try:
        subprocess.run(["sh", str(DEPLOY / "postgres" / "create-databases.sh")], env=env,
                       check=True, capture_output=True, timeout=60)
        yield names
    finally:
        admin = sqlalchemy.create_engine(driver_url(POSTGRES_URL), isolation_level="AUTOCOMMIT",
                                         poolclass=sqlalchemy.pool.NullPool)
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


def test_compose_services_start_from_the_image_command_and_stop_gracefully(
        amqp_uri, compose_databases, processes, tmp_path):
    compose = load_compose()["services"]

    def environment(service):
        env = image_environment(tmp_path / service / "data")
        for name, value in compose[service]["environment"].items():
            if name == "AMQP_URI":
                value = amqp_uri
            elif name.endswith("_DATABASE_URL"):
                owner = name[: -len("_DATABASE_URL")].lower()
                value = compose_database_url(value, compose_databases[owner])
            elif name == "CLIENTFOLIO_HTTP_PORT":
                value = str(free_port())
            env[name] = value
        return env

    for service in ("migrate", *SERVICES):
        (tmp_path / service).mkdir()
    # The one-shot migrate service first, as `depends_on: service_completed_successfully`.
    migrate_env = environment("migrate")
    output = run_once(image_argv(compose["migrate"]["command"], migrate_env), migrate_env,
                      tmp_path / "migrate")
    assert [line for line in output.splitlines() if line.endswith(": migrated")] == \
        [f"{s}: migrated" for s in SERVICES]

    commands = []
    for service in SERVICES:
        env = environment(service)
        commands.append((service, image_argv(compose[service]["command"], env), env))
    start_all(processes, commands, tmp_path)

    _, image_check = healthcheck(parse_dockerfile()[-1])
    for process in processes:
        check_command(image_check, process.env)
        compose_check = compose[process.name]["healthcheck"]["test"]
        assert compose_check[0] == "CMD"
        check_command(compose_check[1:], process.env)

    assert_event_queue_type(amqp_uri, compose["gateway"]["environment"]
                            ["CLIENTFOLIO_EVENT_QUEUE_TYPE"])
    stop_all(processes, [duration_seconds(compose[p.name]["stop_grace_period"])
                         for p in processes])


# -- Kubernetes -----------------------------------------------------------------------------

def test_kubernetes_pods_start_from_the_image_command_and_stop_gracefully(
        amqp_uri, postgres, processes, tmp_path):
    base = kustomize(K8S_BASE)
    config_map = find(base, "ConfigMap", "clientfolio-config")["data"]
    databases = {service: postgres.create(f"k8s_{service}") for service in SERVICES}
    secret = {"AMQP_URI": amqp_uri, "CLIENTFOLIO_CONSISTENCY_SECRET": "k8s-test-secret",
              **{database_variable(s): databases[s] for s in SERVICES}}
    http_ports = {service: free_port() for service in SERVICES}

    def environment(name, container, port=None):
        (tmp_path / name).mkdir()
        env = image_environment(tmp_path / name / "data")
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] == "clientfolio-config"
            env.update(config_map)
        for variable in container.get("env", []):
            env[variable["name"]] = secret[variable["valueFrom"]["secretKeyRef"]["key"]]
        if port is not None:
            # The pod's port, moved so that four "pods" share this machine.
            assert env["CLIENTFOLIO_HTTP_PORT"] == str(container["ports"][0]["containerPort"])
            env["CLIENTFOLIO_HTTP_PORT"] = str(port)
        return env

    # The migrations Job runs first, once per release.
    (job,) = find(base, "Job")
    (job_container,) = job["spec"]["template"]["spec"]["containers"]
    job_env = environment("migrate", job_container)
    run_once(image_argv(job_container["args"], job_env), job_env, tmp_path / "migrate")

    commands, pods = [], {}
    for service in SERVICES:
        pod = find(base, "Deployment", f"clientfolio-{service}")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = environment(service, container, http_ports[service])
        assert env["CLIENTFOLIO_EVENT_QUEUE_TYPE"] == "quorum"
        pods[service] = pod
        commands.append((service, image_argv(container["args"], env), env))
    start_all(processes, commands, tmp_path)

    for process in processes:
        (container,) = pods[process.name]["containers"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = container[probe]["httpGet"]["path"]
            assert http_status(process.port, path) == 200, f"{process.name} {probe} {path}"
        assert http_status(process.port, "/metrics") == 200
    assert_event_queue_type(amqp_uri, "quorum")

    # The kubelet runs preStop, then sends SIGTERM; SIGKILL at the end of the grace period.
    grace = []
    for process in processes:
        pod = pods[process.name]
        prestop = pod["containers"][0].get("lifecycle", {}).get("preStop", {}).get("exec")
        delay = int(prestop["command"][-1]) if prestop else 0
        grace.append(pod["terminationGracePeriodSeconds"] - delay)
    stop_all(processes, grace)

    # The pods' root filesystem is read-only: nothing may have been written in
    # the working directory (the image's WORKDIR), nor in the data directory of a
    # service that has no volume there.
    for service in SERVICES:
        assert list((tmp_path / service).iterdir()) == [], f"{service} wrote files"


def test_image_command_defaults_to_the_gateway():
    env = image_environment(Path("/nonexistent"))
    cmd = exec_form(parse_dockerfile()[-1].last("CMD"))
    assert cmd == ["serve", "gateway"]
    argv = image_argv(cmd, env)
    assert os.access(argv[0], os.X_OK)
