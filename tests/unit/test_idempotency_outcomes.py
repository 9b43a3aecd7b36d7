"""Which answers an Idempotency-Key keeps: a definite one is replayed, one that says
"try again" (a write that kept losing to concurrent ones) lets the retry run."""
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from gateway.idempotency import run_once
from gateway.service import migrate
from services.common.db import get_database
from services.common.errors import ConcurrencyError, Conflict


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    return get_database(url)


def request():
    return Request(EnvironBuilder(method="POST", path="/api/v1/projects/p1/time-entries",
                                  json={"date": "2026-11-02", "hours": "0.5"}).get_environ())


def answers(*outcomes):
    """An ``execute`` that answers ``outcomes`` in turn (raising the exceptions)."""
    runs = []

    def execute():
        outcome = outcomes[len(runs)]
        runs.append(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return execute, runs


def test_a_write_that_lost_to_concurrent_ones_is_run_again_by_the_retry(database):
    created = Response('{"id": "t1"}', status=201, content_type="application/json")
    execute, runs = answers(ConcurrencyError("the project changed meanwhile"), created)
    with pytest.raises(ConcurrencyError):
        run_once(database, "acme", "k1", request(), execute)
    assert run_once(database, "acme", "k1", request(), execute).status_code == 201
    replayed = run_once(database, "acme", "k1", request(), execute)
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (201, "true")
    assert replayed.get_data(as_text=True) == '{"id": "t1"}'
    assert len(runs) == 2


def test_a_definite_refusal_is_kept_and_replayed(database):
    execute, runs = answers(Conflict("the invoice is void"))
    with pytest.raises(Conflict):
        run_once(database, "acme", "k2", request(), execute)
    replayed = run_once(database, "acme", "k2", request(), execute)
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (409, "true")
    assert "the invoice is void" in replayed.get_data(as_text=True)
    assert len(runs) == 1


def test_an_answer_worth_retrying_says_when():
    from services.common.web import problem_from_exception

    assert problem_from_exception(ConcurrencyError("changed")).headers["Retry-After"] == "1"
    assert "Retry-After" not in problem_from_exception(Conflict("void")).headers
