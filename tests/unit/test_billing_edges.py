"""Pure helpers at billing's edges: If-Match, list filters, optional bodies."""
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.api.billing import if_match, list_filters, optional_body
from services.common.errors import BadRequest


def request(headers=None, query=None, data=None):
    return Request(EnvironBuilder(method="POST", headers=headers or {}, query_string=query,
                                  data=data).get_environ())


@pytest.mark.parametrize("header, expected", [
    (None, None), ('"3"', 3), ("3", 3), ('W/"12"', 12), ("*", None), (" ", None)])
def test_if_match_names_a_version(header, expected):
    assert if_match(request({"If-Match": header} if header is not None else {})) == expected


@pytest.mark.parametrize("header", ['"abc"', '"1", "2"', "-1"])
def test_a_malformed_if_match_is_a_bad_request(header):
    with pytest.raises(BadRequest):
        if_match(request({"If-Match": header}))


def test_list_filters_keep_the_known_parameters_only():
    got = list_filters(request(query="client_id=c&status=overdue&limit=5&colour=red&cursor="),
                       with_as_of=False)
    assert got == {"client_id": "c", "status": "overdue", "limit": "5"}
    with_as_of = list_filters(request(query="as_of=2026-02-01"), with_as_of=True)
    assert with_as_of == {"as_of": "2026-02-01"}
    with pytest.raises(BadRequest):
        list_filters(request(query="as_of=yesterday"), with_as_of=True)


def test_an_optional_body_may_be_left_out():
    assert optional_body(request(data=b"")) == {}
    assert optional_body(request(data=b"  ")) == {}
    assert optional_body(request(data=b'{"issue_date": "2026-01-01"}')) == {
        "issue_date": "2026-01-01"}
    with pytest.raises(BadRequest):
        optional_body(request(data=b"[1]"))
