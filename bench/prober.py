"""Propagation prober: reads ``source position committed_at client_id`` lines on
stdin and asks the gateway for that client's overview with the matching
Consistency-Token at once (sealed for the workspace with the gateway's secret, as
the gateway hands them out); prints the latencies (seconds, JSON) at end of input.

Runs as its own process so that probing never delays the writer it measures, and
on one asyncio loop with plain keep-alive HTTP/1.1 connections (as ``httpload.py``):
an HTTP client library in a thread pool cost a few milliseconds per probe on a busy
two-core machine, which the figures then counted as propagation.
``committed_at`` is ``time.monotonic()`` of the writer (one clock for the machine).
"""
import asyncio
import json
import sys
import time
import urllib.parse

from httpload import read_response

from services.common.consistency import seal_token


async def run(base, token, secret, workspace):
    parts = urllib.parse.urlsplit(base)
    idle = []  # keep-alive connections not in use
    latencies, probes = [], set()

    async def probe(source, position, committed_at, client_id):
        request = (f"GET /api/v1/clients/{client_id}/overview HTTP/1.1\r\n"
                   f"Host: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
                   f"Consistency-Token: {seal_token(f'{source}:{position}', workspace, secret)}"
                   "\r\n"
                   f"Connection: keep-alive\r\n\r\n").encode()
        reader, writer = idle.pop() if idle else \
            await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write(request)
            status, _ = await asyncio.wait_for(read_response(reader), 10)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            writer.close()
            return
        if status == 200:
            latencies.append(time.monotonic() - float(committed_at))
        idle.append((reader, writer))

    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while line := await stdin.readline():
        if line.strip():
            task = asyncio.create_task(probe(*line.decode().split()))
            probes.add(task)
            task.add_done_callback(probes.discard)
    await asyncio.gather(*probes)
    for _, writer in idle:
        writer.close()
    return latencies


def main():
    print(json.dumps(asyncio.run(run(*sys.argv[1:5]))))


if __name__ == "__main__":
    main()
