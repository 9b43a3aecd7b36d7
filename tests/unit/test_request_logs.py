"""The request log line: one line per failed or slow request, at the level it deserves."""
import logging

from services.common.web import log_request, problem_response


def records(caplog, status, seconds=0.01, slow_after=1.0, error=None):
    caplog.clear()
    response = problem_response(status, "Not found" if status == 404 else "Internal error",
                                code="not_found" if status == 404 else "internal_error")
    with caplog.at_level(logging.DEBUG, logger="services.common.web"):
        log_request("GET", "/api/v1/clients/<string:client_id>", response, "c-1", seconds,
                    slow_after, error)
    return caplog.records


def test_a_client_error_is_one_info_line_without_traceback(caplog):
    [line] = records(caplog, 404)
    assert line.levelno == logging.INFO and line.exc_info is None
    assert line.fields["status"] == 404 and line.fields["code"] == "not_found"
    assert line.fields["route"] == "/api/v1/clients/<string:client_id>"
    assert line.correlation_id == "c-1"


def test_a_server_error_is_one_error_line_with_its_traceback(caplog):
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        error = exc
    [line] = records(caplog, 500, error=error)
    assert line.levelno == logging.ERROR and line.exc_info[1] is error


def test_a_slow_request_gets_a_line_of_its_own_and_a_fast_success_none(caplog):
    [line] = records(caplog, 200, seconds=1.5, slow_after=1.0)
    assert line.levelno == logging.WARNING and line.fields["slow"] is True
    assert line.fields["duration_ms"] == 1500.0
    assert records(caplog, 200, seconds=0.2, slow_after=1.0) == []
