"""A small closed-loop HTTP load generator: CONNECTIONS keep one request in flight each.

    python bench/httpload.py URL TOKEN SECONDS CONNECTIONS [IDS_FILE]   -> JSON on stdout

TOKEN is a bearer token, or ``cookie:NAME=VALUE`` for a browser session's cookie.

With IDS_FILE, each request replaces ``{id}`` in URL by a random line of the file.

Plain HTTP/1.1 keep-alive connections on one asyncio loop: a request costs this
process about a tenth of what an HTTP client library's does, so on a small
machine the figures measure the gateway rather than the load generator.
"""
import asyncio
import json
import random
import sys
import time
import urllib.parse


async def read_response(reader):
    """(status, body) of one HTTP/1.1 response (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]
    return status, await reader.readexactly(int(headers.get("content-length", 0)))


async def run(url, token, seconds, connections, ids):
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    # TOKEN "cookie:NAME=VALUE" sends a browser session's cookie instead of a bearer token.
    if token.startswith("cookie:"):
        auth = f"Cookie: {token[len('cookie:'):]}\r\n"
    else:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
    template = (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
                f"Connection: keep-alive\r\n\r\n")
    deadline = time.monotonic() + seconds
    latencies, errors = [], [0]

    async def connection():
        reader = writer = None
        while time.monotonic() < deadline:
            request = template.replace("{id}", random.choice(ids)) if ids else template
            started = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(request.encode())
                status, _ = await asyncio.wait_for(read_response(reader), 10)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                status = None
                if writer is not None:
                    writer.close()
                reader = writer = None
            if status == 200:
                latencies.append(time.monotonic() - started)
            else:
                errors[0] += 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return {"count": len(latencies), "latencies": latencies, "errors": errors[0]}


def main():
    url, token, seconds, connections = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
        int(sys.argv[4])
    ids = open(sys.argv[5]).read().split() if len(sys.argv) > 5 else None
    print(json.dumps(asyncio.run(run(url, token, seconds, connections, ids))))


if __name__ == "__main__":
    main()
