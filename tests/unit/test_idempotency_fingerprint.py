"""What makes two requests the same body for an Idempotency-Key."""
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.idempotency import request_fingerprint


def multipart(parts, boundary):
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data{disposition}\r\n\r\n".encode()
        + value + b"\r\n" for disposition, value in parts) + f"--{boundary}--\r\n".encode()
    environ = EnvironBuilder(method="POST", path="/api/v1/clients/imports", data=body,
                             content_type=f"multipart/form-data; boundary={boundary}"
                             ).get_environ()
    return Request(environ)


def test_a_part_without_a_name_is_fingerprinted_not_a_crash():
    parts = [("", b"orphan"), ('; name="mode"', b"upsert"),
             ('; name="file"; filename="a.csv"', b"Name\r\nAna\r\n")]
    first = request_fingerprint(multipart(parts, "aaa"))
    assert first == request_fingerprint(multipart(parts, "bbb"))  # new boundary, same body
    changed = parts[:1] + [('; name="mode"', b"create")] + parts[2:]
    assert first != request_fingerprint(multipart(changed, "aaa"))
