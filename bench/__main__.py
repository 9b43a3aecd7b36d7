"""``make bench``: run the benchmarks and print each figure beside its baseline.

    python -m bench [--quick] [--only kernel --only overview ...]

Each suite runs in its own process (some monkey-patch eventlet, some must not).
"""
import argparse
import subprocess
import sys

SUITES = ["kernel", "commands", "overview", "contacts", "projects", "billing", "imports",
          "web", "tracing", "web_imports", "privacy", "webhooks"]


def available(suite):
    import importlib.util

    return importlib.util.find_spec(f"bench.{suite}") is not None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", action="append", choices=SUITES)
    args = parser.parse_args(argv)
    print(f"{'benchmark':<38} {'size':<22} {'figure':>15} | {'baseline (same run)':<34} "
          f"{'baseline':>15} | ratio   | goal", flush=True)
    failed = []
    for suite in args.only or [s for s in SUITES if available(s)]:
        code = subprocess.call([sys.executable, "-W", "ignore", "-m", f"bench.{suite}"]
                               + (["--quick"] if args.quick else []))
        if code:
            failed.append(suite)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
