"""The one paging module every list uses: limits, opaque keyset cursors, ids."""
import pytest

from services.common.errors import BadRequest
from services.common.paging import (DEFAULT_LIMIT, MAX_LIMIT, canonical_id, check_limit,
                                    decode_cursor, encode_cursor)


@pytest.mark.parametrize("key, types", [
    ([1], (int,)), ([2 ** 40], (int,)), (["name", "Núñez, S.L.", "c1"], (str, str, str)),
    (["2026-01-02", 7], (str, int))])
def test_cursors_round_trip_and_are_opaque(key, types):
    cursor = encode_cursor(key)
    assert decode_cursor(cursor, types) == key
    assert all(str(part) not in cursor for part in key)


@pytest.mark.parametrize("cursor", ["%%", "YWJj", "eA",
                                    encode_cursor(["5"]), encode_cursor([5, 6]),
                                    encode_cursor({"seq": 5}), encode_cursor([True])])
def test_foreign_cursors_are_a_bad_request(cursor):
    with pytest.raises(BadRequest) as caught:
        decode_cursor(cursor, (int,))
    assert "cursor" in caught.value.errors


def test_no_cursor_is_the_first_page():
    assert decode_cursor(None, (int,)) is None and decode_cursor("", (int,)) is None


@pytest.mark.parametrize("value, expected", [(None, DEFAULT_LIMIT), ("", DEFAULT_LIMIT),
                                             ("1", 1), (500, MAX_LIMIT), ("25", 25)])
def test_limits(value, expected):
    assert check_limit(value) == expected


@pytest.mark.parametrize("value", [0, "0", "501", -1, "ten", "2.5", True, "²", [5]])
def test_bad_limits(value):
    with pytest.raises(BadRequest) as caught:
        check_limit(value)
    assert "limit" in caught.value.errors


def test_canonical_ids():
    assert canonical_id(" 5B0C6F0E-8A51-4B8E-9C77-2C9E8B1B2A10 ") == \
        "5b0c6f0e-8a51-4b8e-9c77-2c9e8b1b2a10"
    assert canonical_id("nope") is None and canonical_id(5) is None
