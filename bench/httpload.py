"""A small closed-loop HTTP load generator: THREADS keep one request in flight each.

    python bench/httpload.py URL TOKEN SECONDS THREADS [IDS_FILE]   -> JSON on stdout

With IDS_FILE, each request replaces ``{id}`` in URL by a random line of the file.
"""
import random
import json
import sys
import threading
import time

import requests


def main():
    url, token, seconds, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    ids = open(sys.argv[5]).read().split() if len(sys.argv) > 5 else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + seconds
    latencies, errors = [], [0]
    lock = threading.Lock()

    def worker():
        session = requests.Session()
        mine = []
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                target = url.replace("{id}", random.choice(ids)) if ids else url
                ok = session.get(target, headers=headers, timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                mine.append(time.monotonic() - started)
            else:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    print(json.dumps({"count": len(latencies), "latencies": latencies, "errors": errors[0]}))


if __name__ == "__main__":
    main()
