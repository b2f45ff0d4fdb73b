"""``widedeep-bench <command>`` (or ``python -m widedeep_bench <command>``): the suite's steps by hand.

Exit codes, the same for every command (``widedeep_bench.errors``): 0 every gate passed (or the step
succeeded), 1 a gate failed or did not run (an interrupted command included), 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from widedeep_bench import __version__
from widedeep_bench.commands import QUIET_HELP, add_quiet_flag
from widedeep_bench.errors import EXIT_GATE_FAILED, GatesFailed, WidedeepError

# Each module registers its own subcommand; heavy imports stay inside their run() functions.
COMMAND_MODULES = ("fetch", "prepare", "preprocess", "convert", "build", "bundle", "report", "compare", "merge", "test",
                   "bench", "loadgen")
PROG = "widedeep-bench"


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Wide & Deep (Criteo CTR) conformance and benchmark suite. Exit codes: 0 every gate "
                    "passed (or the step succeeded), 1 a gate failed or did not run, 2 bad usage or bad input.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"widedeep_bench.commands.{name}").register(subparsers)
    for command in subparsers.choices.values():
        command.allow_abbrev = False
        if not command.get_default("passthrough"):  # `test` hands -q (and -qq) on to pytest
            add_quiet_flag(command)  # global flags after the command too: `report FILE -q`
    for command in _parsers_below(parser):  # an error names the command it is about, not the top level
        command.set_defaults(usage_parser=command)
    return parser


def _parsers_below(parser: argparse.ArgumentParser):
    for action in parser._actions:  # argparse keeps subcommands as a private action type
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield command
                yield from _parsers_below(command)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, passthrough = parser.parse_known_args(argv)
    if passthrough and not getattr(args, "passthrough", False):  # only `test` hands arguments on (to pytest)
        args.usage_parser.error(f"unrecognized arguments: {' '.join(passthrough)}")
    args.passthrough_args = passthrough
    if args.quiet:
        os.environ["WIDEDEEP_QUIET"] = "1"
    try:
        result = args.run(args)
    except WidedeepError as exc:
        if isinstance(exc, GatesFailed):
            print(json.dumps(exc.result, sort_keys=True))
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # nothing it was to do is done, nothing passed
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_GATE_FAILED
    if isinstance(result, int) and not isinstance(result, bool):  # a command that decides its own exit code
        return result
    if result is not None:
        print(json.dumps(result, sort_keys=True))
    return 0


def entry_point() -> None:
    """The ``widedeep-bench`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
