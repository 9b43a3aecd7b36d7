"""Web app benchmarks: the cost of one password verification (argon2id with the
parameters sign-in uses), beside the 50-250 ms the sign-in aims at.

The client page's throughput is measured in ``bench.overview`` beside the JSON
overview of the same run. Run as its own process: ``python -m bench.web``.
"""
import secrets
import sys
import time

from gateway.people import PASSWORD_HASHER

from .support import Report


def verification_ms(rounds):
    password = secrets.token_urlsafe(16)
    stored = PASSWORD_HASHER.hash(password)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        PASSWORD_HASHER.verify(stored, password)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return timings[len(timings) // 2]


def run(report, quick=False):
    median = verification_ms(5 if quick else 20)
    params = PASSWORD_HASHER
    report.add("sign-in: one argon2id verification",
               f"t={params.time_cost} m={params.memory_cost // 1024}MiB p={params.parallelism}",
               median, "goal (at most)", 250.0, unit="ms", higher_is_better=False,
               goal="50-250 ms")


if __name__ == "__main__":
    run(Report(), quick="--quick" in sys.argv)
