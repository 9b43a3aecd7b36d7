"""Propagation prober: reads ``source position committed_at client_id`` lines on
stdin and asks the gateway for that client's overview with the matching
Consistency-Token at once; prints the latencies (seconds, JSON) at end of input.

Runs as its own process so that probing never delays the writer it measures.
``committed_at`` is ``time.monotonic()`` of the writer (one clock for the machine).
"""
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def main():
    base, token = sys.argv[1], sys.argv[2]
    local = threading.local()
    latencies, lock = [], threading.Lock()

    def probe(line):
        source, position, committed_at, client_id = line.split()
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
        answer = session.get(f"{base}/api/v1/clients/{client_id}/overview",
                             headers={"Consistency-Token": f"{source}:{position}"}, timeout=10)
        if answer.status_code == 200:
            with lock:
                latencies.append(time.monotonic() - float(committed_at))

    with ThreadPoolExecutor(16) as pool:
        for line in sys.stdin:
            if line.strip():
                pool.submit(probe, line)
    print(json.dumps(latencies))


if __name__ == "__main__":
    main()
