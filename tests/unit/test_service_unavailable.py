"""A broker or service that cannot be reached is a 503 with Retry-After, never a 500."""
import socket

import pytest
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService

from services.common.web import problem_from_exception


@pytest.mark.parametrize("error", [
    OperationalError("[Errno 111] ECONNREFUSED"), UnknownService("contacts"),
    ConnectionResetError(104, "Connection reset by peer"), socket.timeout("timed out")])
def test_an_unreachable_broker_or_service_is_503_with_retry_after(error):
    response = problem_from_exception(error)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json["code"] == "service_unavailable"


def test_any_other_error_is_500():
    response = problem_from_exception(KeyError("bug"))
    assert response.status_code == 500 and response.json["code"] == "internal_error"
