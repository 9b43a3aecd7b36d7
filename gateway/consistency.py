"""The gateway's side of Consistency-Tokens: sealing them for the caller's workspace,
opening the ones callers send back, and bounding the waits they cause.

- Positions are sealed with the secret ``CONSISTENCY_SECRET`` (every replica must have
  the same one; without it the gateway makes one in its data directory, which is
  what ``make run`` uses). See ``services.common.consistency``.
- A token that does not open (another workspace's, forged, another secret) is not
  waited for: the read answers at once with ``Consistency-Token-Applied: false``.
- Waits hold a worker each, so at most ``CONSISTENCY_MAX_WAITS_PER_WORKSPACE`` requests
  of one workspace (and ``CONSISTENCY_MAX_WAITS`` in all) wait at a time in a gateway
  process; the ones beyond answer at once with ``Consistency-Token-Applied: false``.
  The count is per process on purpose: it guards this process's workers.
"""
import logging
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

from nameko.extensions import DependencyProvider

from services.common.consistency import open_token, seal_token

log = logging.getLogger(__name__)

SECRET_FILE = "consistency-secret"
DEFAULT_MAX_WAITS = 10
DEFAULT_MAX_WAITS_PER_WORKSPACE = 4


def secret_from_config(config):
    """The sealing secret: ``CONSISTENCY_SECRET``, else the one kept in the data
    directory (made there, readable by its owner only, the first time)."""
    configured = config.get("CONSISTENCY_SECRET")
    if configured:
        return str(configured)
    path = Path(config.get("DATA_DIR") or "./var") / SECRET_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    except OSError as exc:  # a read-only data dir: tokens then open in this process only
        log.warning("no CLIENTFOLIO_CONSISTENCY_SECRET and %s cannot be written (%s): "
                    "Consistency-Tokens are sealed with a secret of this process only",
                    path, exc)
        return secrets.token_urlsafe(32)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="ascii").strip()


class ConsistencyTokens:
    def __init__(self, secret, sources, max_waits=DEFAULT_MAX_WAITS,
                 max_waits_per_workspace=DEFAULT_MAX_WAITS_PER_WORKSPACE):
        self.secret = secret
        self.sources = sources
        self.max_waits = max_waits
        self.max_waits_per_workspace = max_waits_per_workspace
        self.waiting_now = {}  # workspace -> requests waiting in this process

    def seal(self, token, workspace):
        """The token a caller of ``workspace`` receives for plain ``token``."""
        return seal_token(token, workspace, self.secret)

    def open(self, token, workspace):
        """The plain token of a header ``workspace`` sent back, or None."""
        positions = open_token(token, workspace, self.secret, self.sources)
        return ",".join(f"{s}:{p}" for s, p in positions.items()) if positions else None

    @contextmanager
    def waiting(self, workspace):
        """Yields whether this request may wait now (see module doc)."""
        mine = self.waiting_now.get(workspace, 0)
        if mine >= self.max_waits_per_workspace or \
                sum(self.waiting_now.values()) >= self.max_waits:
            yield False
            return
        self.waiting_now[workspace] = mine + 1
        try:
            yield True
        finally:
            left = self.waiting_now.get(workspace, 1) - 1
            if left > 0:
                self.waiting_now[workspace] = left
            else:
                self.waiting_now.pop(workspace, None)


class ConsistencyTokensProvider(DependencyProvider):
    """Injects the gateway's :class:`ConsistencyTokens`."""

    def __init__(self, sources):
        self.sources = sources

    def setup(self):
        config = self.container.config
        self.tokens = ConsistencyTokens(
            secret_from_config(config), self.sources,
            int(config.get("CONSISTENCY_MAX_WAITS") or DEFAULT_MAX_WAITS),
            int(config.get("CONSISTENCY_MAX_WAITS_PER_WORKSPACE")
                or DEFAULT_MAX_WAITS_PER_WORKSPACE))

    def get_dependency(self, worker_ctx):
        return self.tokens
