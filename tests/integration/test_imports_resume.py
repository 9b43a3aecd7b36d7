"""An import job whose process is killed or stopped midway resumes from its checkpoint
when the service comes back, and writes every row exactly once."""
import csv
import io

import pytest
from sqlalchemy import func, select, text

from services.contacts.imports import jobs_table, rows_table
from tests.helpers import wait_until
from tests.integration.conftest import SERVICES, Stack

ROWS = 3000


class SlowImportStack(Stack):
    """Small batches, a short lease and a pause between batches: a job lasts seconds."""

    def config(self, service):
        return {**super().config(service), "IMPORT_BATCH_SIZE": 20,
                "IMPORT_LEASE_SECONDS": 1.0, "IMPORT_BATCH_PAUSE": 0.01}


def _job(database, job_id):
    with database.read() as conn:
        return conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).first()


@pytest.mark.parametrize("end", ["kill", "stop"])
def test_interrupted_job_resumes_without_writing_a_row_twice(vhosts, tmp_path, end):
    """``kill``: the process dies, its lease holds the job until it runs out. ``stop``:
    a graceful stop hands the job back after the batch under way (no owner, no lease)."""
    stack = SlowImportStack(vhosts.create(),
                            {s: f"sqlite:///{tmp_path / f'{s}.db'}" for s in SERVICES})
    try:
        stack.start()
        session = stack.session("resume")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["Name", "Email", "Country"])
        for index in range(ROWS):
            writer.writerow([f"Client {index:05d}", f"client{index}@example.com", "ES"])
        response = session.post(f"{stack.url}/api/v1/clients/imports",
                                files={"file": ("big.csv", out.getvalue().encode())},
                                data={"mode": "upsert"}, timeout=60)
        assert response.status_code == 202
        job_id = response.json()["id"]
        database = stack.database("contacts")
        wait_until(lambda: _job(database, job_id).processed >= 200, timeout=60,
                   message="the job under way")
        if end == "kill":
            stack.kill("contacts")
        else:
            stack.stop("contacts")
        stopped = _job(database, job_id)
        assert stopped.status == "running" and 0 < stopped.processed < ROWS
        assert stopped.processed == stopped.checkpoint - 1  # header is row 1
        if end == "stop":
            assert stopped.owner is None and stopped.lease_until is None
        else:
            assert stopped.owner is not None

        stack.start("contacts")
        done = wait_until(lambda: (lambda j: j if j.status == "done" else None)(
            _job(database, job_id)), timeout=120, message="the job done")
        assert (done.total, done.processed, done.created, done.failed) == (ROWS, ROWS, ROWS, 0)
        with database.read() as conn:
            clients = conn.execute(text("SELECT count(*), count(DISTINCT email) FROM clients "
                                        "WHERE workspace = 'resume'")).one()
            registered = conn.execute(text("SELECT count(*) FROM events "
                                           "WHERE type = 'ClientRegistered'")).scalar()
            verdicts = conn.execute(select(func.count()).select_from(rows_table)
                                    .where(rows_table.c.job_id == job_id)).scalar()
        assert tuple(clients) == (ROWS, ROWS)
        assert registered == ROWS and verdicts == ROWS
        # every event reached the gateway exactly once
        wait_until(lambda: session.get(f"{stack.url}/api/v1/clients",
                                       params={"limit": 1}).status_code == 200)
        job = session.get(f"{stack.url}/api/v1/clients/imports/{job_id}").json()
        assert job["status"] == "done" and job["created"] == ROWS
        # and the same file again changes nothing
        again = session.post(f"{stack.url}/api/v1/clients/imports?wait=true",
                             files={"file": ("big.csv", out.getvalue().encode())},
                             data={"mode": "upsert"}, timeout=120).json()
        assert again["unchanged"] == ROWS, again
    finally:
        stack.close()


def test_a_job_is_claimed_by_one_runner_only(vhosts, tmp_path):
    """Two runners (replicas) racing for the same queued job: one wins."""
    from services.contacts.imports import ImportRunner

    stack = Stack(vhosts.create(), {s: f"sqlite:///{tmp_path / f'{s}.db'}" for s in SERVICES})
    try:
        stack.start("contacts")
        session_ctx = {"workspace": "claims", "actor": "test"}
        job = stack.rpc.contacts.start_import(session_ctx, "a.csv",
                                              "TmFtZQ0KQQ0K", "create", False, None)
        stack.kill("contacts")  # only the two runners below are left
        runners = []
        for _ in range(2):
            runner = ImportRunner()
            runner.container = type("C", (), {"config": stack.config("contacts")})()
            runner.setup()
            runners.append(runner)
        database = stack.database("contacts")
        with database.write() as conn:  # as if the job were still waiting for a runner
            conn.execute(jobs_table.update().where(jobs_table.c.id == job["id"])
                         .values(owner=None, status="queued", lease_until=None))
        claims = [runner.claim() for runner in runners]
        assert sorted(claims, key=str) == sorted([job["id"], None], key=str)
    finally:
        stack.close()
