"""What operators read: the log lines of real processes answering bad requests.

A client error (4xx) is one INFO line with its status, code, route and correlation
id and no traceback; an unexpected error (an injected 500) is one ERROR line with
exactly one traceback; a request slower than the threshold gets a line of its own.
"""
import json

import pytest
import requests

from tests.faults.processes import SERVICES, ProcessStack
from tests.helpers import wait_until


@pytest.fixture
def processes(amqp_uri, postgres, tmp_path):
    urls = {service: postgres.create(service) for service in SERVICES}
    stack = ProcessStack(amqp_uri, urls, tmp_path, CLIENTFOLIO_SLOW_REQUEST_SECONDS="0.5")
    try:
        yield stack.start()
    finally:
        stack.close()


def log_lines(process):
    with open(process.log_path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.startswith("{")]


def tracebacks(lines):
    return [line for line in lines if "Traceback" in (line.get("exception") or "")
            or "Traceback" in line.get("message", "")]


def test_client_errors_are_one_line_and_a_server_error_has_one_traceback(processes):
    gateway = processes["gateway"]
    gateway.restart(fault="raise:after_command:get_client")
    api = f"{gateway.url}/api/v1"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {processes.token()}"

    no_token = requests.get(f"{api}/clients", timeout=30,
                            headers={"X-Correlation-Id": "no-token-1"})
    bad_json = session.post(f"{api}/clients", data="{not json", timeout=30,
                            headers={"Content-Type": "application/json",
                                     "X-Correlation-Id": "bad-json-1"})
    unknown = session.get(f"{api}/clients/7f1c3b0e-2a59-4d8e-9a41-1b2c3d4e5f60", timeout=30,
                          headers={"X-Correlation-Id": "unknown-1"})
    assert (no_token.status_code, bad_json.status_code, unknown.status_code) == (401, 400, 404)
    created = session.post(f"{api}/clients", json={"name": "Ferreira & Filhos, Lda."},
                           timeout=30)
    assert created.status_code == 201, created.text
    failed = session.get(f"{api}/clients/{created.json()['id']}", timeout=30,
                         headers={"X-Correlation-Id": "injected-500"})
    assert failed.status_code == 500

    def answered(correlation_id):
        return [line for line in log_lines(gateway)
                if line.get("correlation_id") == correlation_id and line.get("status")]

    wait_until(lambda: answered("injected-500"), timeout=10, message="the 500's log line")
    for correlation_id, status, route in (
            ("no-token-1", 401, "/api/v1/clients"), ("bad-json-1", 400, "/api/v1/clients"),
            ("unknown-1", 404, "/api/v1/clients/<string:client_id>")):
        [line] = answered(correlation_id)
        assert line["level"] == "INFO" and line["status"] == status
        assert line["route"] == route and line["code"]
        assert "exception" not in line
    [error] = answered("injected-500")
    assert error["level"] == "ERROR" and error["status"] == 500
    assert error["route"] == "/api/v1/clients/<string:client_id>"
    assert error["exception"].count("Traceback") == 1
    assert "fault injected at after_command:get_client" in error["exception"]

    # One traceback in the whole gateway log (the 500's), none in the contacts log,
    # which answered the unknown client with one line.
    assert tracebacks(log_lines(gateway)) == [error]
    contacts = log_lines(processes["contacts"])
    assert tracebacks(contacts) == []
    assert [line for line in contacts if line["correlation_id"] == "unknown-1"
            and line["level"] == "INFO" and "NotFound" in line["message"]]
