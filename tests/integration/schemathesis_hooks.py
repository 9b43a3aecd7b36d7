"""schemathesis hooks (SCHEMATHESIS_HOOKS) for the conformance run.

A list's ``cursor`` is opaque: only the one a previous page answered is valid, and the
document says so. Generated text is never such a cursor, so it is left out."""
import re

import schemathesis

from gateway.apidoc import CONSISTENCY_TOKEN_PATTERN

POSITIONS = re.compile(CONSISTENCY_TOKEN_PATTERN)
POSITION = re.compile(r":[0-9]+")


@schemathesis.hook
def map_query(context, query):
    if query:
        query.pop("cursor", None)
    return query


@schemathesis.hook
def map_headers(context, headers):
    """A generated ``Consistency-Token`` names positions no write reached: the read would
    wait its full 5 s each time. Its positions are lowered to 0 (already applied), so the
    header is still parsed and checked."""
    token = (headers or {}).get("Consistency-Token")
    if isinstance(token, str) and POSITIONS.fullmatch(token):
        headers["Consistency-Token"] = POSITION.sub(":0", token)
    return headers
