"""``python -m widedeep_bench <command>``: the suite's steps by hand."""

from __future__ import annotations

import argparse
import json
import os
import sys

from widedeep_bench.errors import GatesFailed, WidedeepError

# Each module registers its own subcommand; heavy imports stay inside their run() functions.
COMMAND_MODULES = ("fetch", "prepare", "preprocess", "convert", "build", "report")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="python -m widedeep_bench",
        description="Wide & Deep (Criteo CTR) conformance and benchmark suite.")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or narration")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"widedeep_bench.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quiet:
        os.environ["WIDEDEEP_QUIET"] = "1"
    try:
        result = args.run(args)
    except WidedeepError as exc:
        if isinstance(exc, GatesFailed):
            print(json.dumps(exc.result, sort_keys=True))
        print(f"widedeep_bench {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if result is not None:
        print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
