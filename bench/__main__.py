"""``make bench``: run the benchmarks and print each figure beside its baseline.

    python -m bench [--quick] [--only kernel ...]
"""
import argparse
import importlib
import sys
import warnings

SUITES = ["kernel"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", action="append", choices=SUITES)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    from .support import Report

    report = Report()
    print(f"{'benchmark':<38} {'size':<22} {'figure':>15} | {'baseline (same run)':<34} "
          f"{'baseline':>15} | ratio   | goal")
    for suite in args.only or SUITES:
        importlib.import_module(f"bench.{suite}").run(report, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
