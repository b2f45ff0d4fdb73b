"""Subcommands of ``widedeep-bench``; each module has ``register(subparsers)``.

A command's ``run(args)`` returns a JSON-able object, printed as the last line of stdout, None, or an
int: its exit code (``test``, which hands pytest's on).
"""

import argparse

QUIET_HELP = "no progress bars or narration (accepted before or after the command)"


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    """``-q`` on a command's own parser, so that it is accepted after the command too; it does not override
    a ``-q`` given before the command (``default=SUPPRESS``)."""
    parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
