"""Consistency tokens: one parser for the gateway's header and the services' hints."""
import pytest

from services.common.consistency import MalformedToken, format_token, parse_token


def test_a_token_round_trips_and_the_highest_position_of_a_source_wins():
    assert parse_token("contacts:42, projects:7,contacts:40") == {"contacts": 42, "projects": 7}
    assert parse_token({"contacts": 3}) == {"contacts": 3}
    assert parse_token(format_token({"contacts": 5, "billing": 9})) == {"contacts": 5,
                                                                        "billing": 9}
    assert parse_token(None) == {} and parse_token("") == {}


@pytest.mark.parametrize("token", ["nonsense", "contacts:", "contacts:-1", "contacts:1.5",
                                   ":4", {"contacts": True}, ["contacts:1"]])
def test_malformed_tokens_are_refused(token):
    with pytest.raises(MalformedToken):
        parse_token(token)


def test_sources_can_be_restricted():
    assert parse_token("contacts:1", sources=("contacts",)) == {"contacts": 1}
    with pytest.raises(MalformedToken):
        parse_token("gateway:1", sources=("contacts", "projects", "billing"))
