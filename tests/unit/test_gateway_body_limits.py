"""One body-size rule in the gateway: each endpoint's limit, one capped reader, one 413."""
import io

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.api.clients import MULTIPART_SLACK, upload_limit
from gateway.http import MAX_REQUEST_BYTES, CappedInput, body_too_large, read_capped
from services.common.errors import PayloadTooLarge
from services.contacts.client.limits import MAX_FILE_BYTES, MAX_PHOTO_BYTES, MiB


def request(content_type):
    return Request(EnvironBuilder(method="POST", data=b"x",
                                  content_type=content_type).get_environ())


def test_an_endpoint_taking_a_file_limits_the_body_to_the_file_and_the_form_around_it():
    photo = upload_limit(MAX_PHOTO_BYTES, "a photo", raw=True)
    assert photo(None, request("multipart/form-data; boundary=x")) == \
        (MAX_PHOTO_BYTES + MULTIPART_SLACK, "a photo")
    assert photo(None, request("image/png")) == (MAX_PHOTO_BYTES, "a photo")
    files = upload_limit(MAX_FILE_BYTES, "a file")
    assert files(None, request("application/json")) is None  # the default limit, then 415
    configured = upload_limit(lambda service: service["limit"], "an import file")
    assert configured({"limit": 3 * MiB}, request("multipart/form-data; boundary=x")) == \
        (3 * MiB + MULTIPART_SLACK, "an import file")


def test_the_refusal_names_what_was_too_large():
    assert body_too_large(MAX_REQUEST_BYTES).detail == "requests are limited to 64 MiB"
    assert body_too_large(MAX_PHOTO_BYTES + MULTIPART_SLACK, "a photo").detail == \
        "a photo can be at most 2 MiB"
    assert body_too_large(MAX_PHOTO_BYTES).status == 413


def test_the_capped_reader_reads_up_to_the_limit_and_refuses_past_it():
    assert read_capped(io.BytesIO(b"x" * 1000), 1000, "a file") == b"x" * 1000
    with pytest.raises(PayloadTooLarge, match="a file can be at most"):
        read_capped(io.BytesIO(b"x" * (MiB + 1)), MiB, "a file")
    stream = CappedInput(io.BytesIO(b"x" * 200_000), 150_000)
    assert len(stream.read(100_000)) == 100_000
    with pytest.raises(PayloadTooLarge, match="requests are limited"):
        stream.read(100_000)
