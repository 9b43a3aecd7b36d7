"""``clientfolio run``: every service and the gateway as child processes (``make run``).

Checks the broker first (one clear line if it is not there), applies the
migrations, starts contacts, projects, billing and the gateway (each runs its
own outbox relay and consumers), waits until every ``/ready`` answers, prints
the gateway URL, an admin token for the ``demo`` workspace and the demo user's
email and password (new at each start), and stops everything cleanly on Ctrl-C or
SIGTERM. A child that exits on its own is restarted with backoff (and the terminal
says so), as an orchestrator would.
"""
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

SERVICES = ("contacts", "projects", "billing", "gateway")
READY_TIMEOUT = 90
STOP_TIMEOUT = 30
DEMO_EMAIL = "demo@clientfolio.example"


def service_ports(config):
    gateway = int(config.get("HTTP_PORT") or 8000)
    base = int(config.get("INTERNAL_PORT_BASE") or 8100)
    return {"contacts": base + 1, "projects": base + 2, "billing": base + 3, "gateway": gateway}


def broker_problem(amqp_uri):
    """None if RabbitMQ answers at ``amqp_uri``, else why not."""
    from kombu import Connection

    try:
        with Connection(amqp_uri, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def wait_ready(url, deadline, processes):
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not become ready within {READY_TIMEOUT}s")


class Restarts:
    """When to restart each crashed child: exponential backoff with jitter (0.5 s
    doubling up to 30 s), reset once the child has stayed up for a minute."""

    FIRST, CEILING, STABLE = 0.5, 30.0, 60.0

    def __init__(self):
        self.failures = {}
        self.due = {}
        self.started = {}

    def schedule(self, name):
        count = self.failures[name] = self.failures.get(name, 0) + 1
        delay = min(self.CEILING, self.FIRST * 2 ** (count - 1)) * random.uniform(0.5, 1.0)
        self.due[name] = time.monotonic() + delay
        return delay

    def ready(self):
        now = time.monotonic()
        names = [name for name, when in self.due.items() if when <= now]
        for name in names:
            del self.due[name]
            self.started[name] = now
        return names

    def forget_stable(self, processes):
        now = time.monotonic()
        for name, since in list(self.started.items()):
            if processes[name].poll() is None and now - since > self.STABLE:
                self.failures.pop(name, None)
                del self.started[name]


def stop_all(processes):
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(args):
    from services.common.config import load_config

    env = dict(os.environ)
    config = load_config(args.config)
    amqp_uri = config["AMQP_URI"]
    problem = broker_problem(amqp_uri)
    if problem:
        print(f"clientfolio: cannot reach RabbitMQ at {amqp_uri} ({problem}). Start it "
              f"(e.g. 'rabbitmq-server -detached') or point AMQP_URI at a running broker.",
              file=sys.stderr)
        return 1

    python = sys.executable
    base = [python, "-m", "clientfolio.cli"] + (["--config", args.config] if args.config else [])
    migrated = subprocess.run(base + ["migrate"], env=env, stdout=subprocess.DEVNULL)
    if migrated.returncode != 0:
        print("clientfolio: migrations failed (see above)", file=sys.stderr)
        return 1

    ports = service_ports(config)
    processes = {}
    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for service in SERVICES:
            child_env = dict(env, CLIENTFOLIO_HTTP_PORT=str(ports[service]))
            processes[service] = subprocess.Popen(base + ["serve", service], env=child_env)
        deadline = time.monotonic() + READY_TIMEOUT
        for service in SERVICES:
            wait_ready(f"http://127.0.0.1:{ports[service]}/ready", deadline, processes)

        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        token = subprocess.run(
            base + ["token", "create", "--workspace", "demo", "--role", "admin",
                    "--label", "make run"],
            env=env, capture_output=True, text=True, check=True).stdout.strip()
        password = secrets.token_urlsafe(12)
        subprocess.run(base + ["user", "create", "--workspace", "demo", "--email", DEMO_EMAIL,
                               "--role", "admin", "--replace"],
                       env=env, input=password + "\n", capture_output=True, text=True,
                       check=True)
        seed = None
        if not args.no_demo and str(config.get("DEMO", 1)).strip() != "0":
            from .demo import seed_demo

            seed = seed_demo(gateway_url, token)
        print()
        print(f"Clientfolio is running: {gateway_url}")
        print(f"Admin token for the 'demo' workspace: {token}")
        print(f"  curl -s -H 'Authorization: Bearer {token}' {gateway_url}/api/v1/openapi.json")
        print(f"Sign in at {gateway_url}/login as {DEMO_EMAIL} with the password {password}")
        if seed:
            print(f"Overview of {seed['name']}:")
            print(f"  curl -s -H 'Authorization: Bearer {token}' "
                  f"{gateway_url}/api/v1/clients/{seed['client_id']}/overview")
        print("Press Ctrl-C to stop.", flush=True)

        restarts = Restarts()
        while stopping["signal"] is None:
            for name, process in list(processes.items()):
                if process.poll() is not None and name not in restarts.due:
                    delay = restarts.schedule(name)
                    print(f"clientfolio: {name} exited with code {process.returncode}; "
                          f"restarting it in {delay:.1f}s", file=sys.stderr, flush=True)
            for name in restarts.ready():
                child_env = dict(env, CLIENTFOLIO_HTTP_PORT=str(ports[name]))
                processes[name] = subprocess.Popen(base + ["serve", name], env=child_env)
                print(f"clientfolio: {name} restarted", file=sys.stderr, flush=True)
            restarts.forget_stable(processes)
            time.sleep(0.2)
        return 0
    except RuntimeError as exc:
        print(f"clientfolio: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_all(processes)
        print("Clientfolio stopped.", flush=True)
