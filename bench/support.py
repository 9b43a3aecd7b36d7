"""Scratch resources for benchmarks: a RabbitMQ vhost and PostgreSQL databases,
created for the run and removed after, like the test suite's."""
import os
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from contextlib import contextmanager

import sqlalchemy
from sqlalchemy import text

RABBIT = os.environ.get("CLIENTFOLIO_BENCH_RABBIT", "amqp://guest:guest@127.0.0.1:5672")
POSTGRES = os.environ.get("CLIENTFOLIO_BENCH_POSTGRES",
                          "postgresql://postgres@127.0.0.1:5432/postgres")
RUN = uuid.uuid4().hex[:6]
# The gateways the suites start measure the system, not its rate limits (which would
# refuse a load test); the overview suite measures the limiter's cost on its own.
os.environ.setdefault("CLIENTFOLIO_RATE_LIMIT_PER_TOKEN", "0")
os.environ.setdefault("CLIENTFOLIO_RATE_LIMIT_PER_WORKSPACE", "0")


@contextmanager
def vhost():
    name = f"cf-bench-{RUN}-{uuid.uuid4().hex[:4]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)
    try:
        yield f"{RABBIT}/{urllib.parse.quote(name, safe='')}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)


@contextmanager
def postgres_database(label):
    name = f"cf_bench_{RUN}_{label}_{uuid.uuid4().hex[:4]}"
    from services.common.db import driver_url

    admin = sqlalchemy.create_engine(driver_url(POSTGRES), isolation_level="AUTOCOMMIT",
                                     poolclass=sqlalchemy.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}", name
    finally:
        from services.common.db import forget_database

        forget_database(POSTGRES.rsplit("/", 1)[0] + f"/{name}")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def sqlite_database(label):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, f"{label}.db")
        try:
            yield f"sqlite:///{path}", path
        finally:
            from services.common.db import forget_database

            forget_database(f"sqlite:///{path}")


@contextmanager
def database(kind, label):
    manager = postgres_database if kind == "postgres" else sqlite_database
    with manager(label) as value:
        yield value


class Timer:
    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started


def rate(count, seconds):
    return count / seconds if seconds else float("inf")


class Report:
    """Rows of (benchmark, figure, value, baseline name, baseline value, ratio, goal)."""

    def __init__(self):
        self.rows = []

    def add(self, name, figure, value, baseline_name, baseline, goal=None, unit="/s",
            higher_is_better=True):
        ratio = (value / baseline if higher_is_better else baseline / value) if baseline else None
        self.rows.append((name, figure, value, unit, baseline_name, baseline, ratio, goal))
        self.print_row(self.rows[-1])

    @staticmethod
    def print_row(row):
        name, figure, value, unit, baseline_name, baseline, ratio, goal = row
        ratio_text = f"{ratio:6.2f}x" if ratio is not None else "   -  "
        print(f"{name:<38} {figure:<22} {value:>12,.1f}{unit:<3} | {baseline_name:<34} "
              f"{baseline:>12,.1f}{unit:<3} | {ratio_text} | goal {goal or '-'}", flush=True)
