"""The in-process stack of the integration tests, run in a process of its own for the
browser tests: Playwright's driver cannot run where eventlet has monkey-patched the
standard library, and the services need that patching.

Prints one JSON line (the gateway's URL and database URLs) once every service is
ready, and stops everything when its standard input closes.
"""
import json
import sys
import tempfile
from pathlib import Path

from tests.conftest import VhostFactory  # monkey-patches first, as every test process does
from tests.integration.conftest import Stack, sqlite_urls

from eventlet import tpool  # noqa: E402  (after the patching)


def main():
    vhosts = VhostFactory()
    directory = Path(tempfile.mkdtemp(prefix="cf-browser-"))
    stack = Stack(vhosts.create(), sqlite_urls(directory), data_dir=directory / "data")
    try:
        stack.start()
        print(json.dumps({"url": stack.url, "databases": stack.database_urls,
                          "amqp_uri": stack.amqp_uri}), flush=True)
        # Until the test process closes it (or ends), read in a real thread: a plain read
        # would block every green thread of the services.
        tpool.execute(sys.stdin.read)
    finally:
        stack.close()
        vhosts.delete_all()


if __name__ == "__main__":
    main()
