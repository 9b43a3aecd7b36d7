"""Consistency tokens: the positions a write produced, which a later read or command
can wait for (read-your-writes across services and the gateway's read model).

A token is ``"<source>:<position>[,<source>:<position>...]"``, e.g.
``"contacts:42,projects:7"``: each source's global event position. Waiting is done
by the consumer that applies those sources (``EventConsumer.wait_applied``).
"""
from nameko.exceptions import deserialize_to_instance

from .errors import BadRequest


@deserialize_to_instance
class MalformedToken(BadRequest):
    """A token that is not ``source:position[,...]``: 400 wherever it is read."""

    def __init__(self, detail="", errors=None, extra=None, problem=None, **kwargs):
        super().__init__("malformed Consistency-Token",
                         errors or {"Consistency-Token": ["expected source:position"]}, extra,
                         code="invalid_consistency_token")


def format_token(positions):
    """``{"contacts": 42, "projects": 7}`` -> ``"contacts:42,projects:7"``."""
    return ",".join(f"{source}:{int(position)}" for source, position in positions.items())


def parse_token(token, sources=None):
    """A token (text, or a dict already parsed) -> ``{source: position}``; the highest
    position wins when a source repeats. ``MalformedToken`` for a part that is not
    ``source:position`` or, when ``sources`` is given, names another source."""
    if not token:
        return {}
    if isinstance(token, dict):
        items = token.items()
    elif isinstance(token, str):
        items = [part.strip().partition(":")[::2] for part in token.split(",")]
    else:
        raise MalformedToken()
    wanted = {}
    for source, position in items:
        source = str(source)
        if isinstance(position, bool) or (isinstance(position, str) and not position.isdigit()):
            raise MalformedToken()
        try:
            position = int(position)
        except (TypeError, ValueError):
            raise MalformedToken() from None
        if not source or position < 0 or (sources is not None and source not in sources):
            raise MalformedToken()
        wanted[source] = max(wanted.get(source, 0), position)
    return wanted
