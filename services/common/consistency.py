"""Consistency tokens: the positions a write produced, which a later read or command
can wait for (read-your-writes across services and the gateway's read model).

A token is ``"<source>:<position>[,<source>:<position>...]"``, e.g.
``"contacts:42,projects:7"``: each source's global event position. Waiting is done
by the consumer that applies those sources (``EventConsumer.wait_applied``).

Services exchange these plain positions. Over HTTP each position is sealed
(:func:`seal_token`): ``"contacts:<sealed>"``, where ``<sealed>`` is a number that
only the servers' shared secret turns back into the position, and only for the
workspace it was made for. So a workspace learns nothing of the others' write volume
from its tokens, and a token it did not receive (forged, or another workspace's)
opens to nothing. Sealing is deterministic (SIV: the nonce is a MAC of the
position): the same position in the same workspace gives the same token.
"""
import hashlib
import hmac

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


# -- sealed tokens (HTTP) ----------------------------------------------------------------

_SEALED_BYTES = 16  # 8 bytes of synthetic nonce (also the tag) + 8 of encrypted position


def _keys(secret):
    root = hashlib.sha256(secret.encode("utf-8") if isinstance(secret, str) else secret)
    root = root.digest()
    return (hmac.new(root, b"clientfolio consistency mac", hashlib.sha256).digest(),
            hmac.new(root, b"clientfolio consistency enc", hashlib.sha256).digest())


def _context(workspace, source):
    return f"{workspace}\x00{source}".encode("utf-8")


def _nonce(mac_key, context, position):
    return hmac.new(mac_key, context + position.to_bytes(8, "big"), hashlib.sha256).digest()[:8]


def _pad(enc_key, context, nonce):
    return hmac.new(enc_key, nonce + context, hashlib.sha256).digest()[:8]


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def seal_token(token, workspace, secret):
    """A plain token (text or ``{source: position}``) -> the same sources with each
    position sealed for ``workspace``; ``open_token`` with the same secret and
    workspace gives the positions back."""
    mac_key, enc_key = _keys(secret)
    parts = []
    for source, position in parse_token(token).items():
        context = _context(workspace, source)
        nonce = _nonce(mac_key, context, position)
        sealed = nonce + _xor(position.to_bytes(8, "big"), _pad(enc_key, context, nonce))
        parts.append(f"{source}:{int.from_bytes(sealed, 'big')}")
    return ",".join(parts)


def open_token(token, workspace, secret, sources=None):
    """``{source: position}`` of a token :func:`seal_token` made for ``workspace``
    (``sources``: the only sources accepted); ``None`` for anything else: malformed,
    forged, sealed for another workspace or with another secret."""
    mac_key, enc_key = _keys(secret)
    positions = {}
    for part in str(token or "").split(","):
        source, _, value = part.strip().partition(":")
        if not value.isdigit() or len(value) > 40 or (sources is not None and
                                                       source not in sources):
            return None
        sealed = int(value)
        if sealed >= 1 << (8 * _SEALED_BYTES):
            return None
        sealed = sealed.to_bytes(_SEALED_BYTES, "big")
        context = _context(workspace, source)
        nonce = sealed[:8]
        position = int.from_bytes(_xor(sealed[8:], _pad(enc_key, context, nonce)), "big")
        if not hmac.compare_digest(nonce, _nonce(mac_key, context, position)):
            return None
        positions[source] = max(positions.get(source, 0), position)
    return positions or None
