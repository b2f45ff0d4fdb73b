"""``test [--bundle DIR] [pytest args]``: the conformance suite shipped in the package, from any directory.

Runs pytest on ``widedeep_bench/conformance`` with the arguments given (``-m accuracy``, ``--wd-profile``,
``--wd-report``, ``-n 2``, ``-q``, ...), with the configuration shipped beside the tests (``suite.ini``),
never a project's pytest.ini found above the installed package. pytest's exit status is mapped to the
CLI's: 0 every gate passed; 2 bad usage or bad input (pytest's usage error, which is how the suite refuses
a bad option, a bundle that fails its manifest, a runner that cannot run); 1 anything else (a gate
failed, tests errored, none were collected, the run was interrupted or pytest failed internally: in each
case the gates did not all run and pass).
"""

from __future__ import annotations

import os
from pathlib import Path

from widedeep_bench.conformance import DIRECTORY as CONFORMANCE_DIR
from widedeep_bench.errors import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK, WidedeepError

SUITE_INI = CONFORMANCE_DIR / "suite.ini"
PLUGIN_MODULE = "widedeep_bench.pytest_plugin"
# What the suite needs loaded when PYTEST_DISABLE_PLUGIN_AUTOLOAD keeps pytest from loading entry points.
NEEDED_PLUGINS = (PLUGIN_MODULE, "pytest_benchmark.plugin", "xdist.plugin")
PYTEST_USAGE_ERROR = 4


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "test", help="run the conformance suite (pytest); other arguments go to pytest",
        description="Run the conformance suite shipped in the package with pytest, from any directory. "
                    "Arguments this command does not know go to pytest: -m accuracy, --wd-saved-model DIR, "
                    "--wd-eval-csv FILE, --wd-profile NAME, --wd-report PATH, -n 2, -q, ... "
                    "Exit 0 every gate passed, 1 a gate failed or did not run, 2 bad usage or bad input.",
        epilog="pytest's options and the suite's --wd-* options: `pytest --help` (group 'Wide & Deep "
               "conformance suite') in this Python.")
    parser.add_argument("--bundle", metavar="DIR",
                        help="a bundle written by `widedeep-bench bundle` on a reference machine: the ONNX, "
                             "reference probabilities and eval set to test against (same as --wd-bundle)")
    parser.set_defaults(run=run, passthrough=True)


def pytest_arguments(args) -> list[str]:
    """The pytest command line ``test`` runs: the shipped tests and configuration, no cache directory
    written beside them (the package may be read-only), the rootdir where the user is, and the plugins
    named where pytest will not load them from their entry points (autoloading disabled, or a checkout on
    ``PYTHONPATH`` that is not installed)."""
    arguments = [str(CONFORMANCE_DIR), "-c", str(SUITE_INI), "--rootdir", str(Path.cwd()), "-p", "no:cacheprovider"]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        arguments += [argument for plugin in NEEDED_PLUGINS for argument in ("-p", plugin)]
    elif not plugin_registered_by_entry_point():
        arguments += ["-p", PLUGIN_MODULE]
    if args.bundle:
        if any(argument.startswith("--wd-bundle") for argument in args.passthrough_args):
            raise WidedeepError("--bundle and --wd-bundle both name a bundle: give one")
        from widedeep_bench.bundle import load_bundle

        load_bundle(args.bundle, "--bundle")  # its one-line error names the option typed here
        arguments.append(f"--wd-bundle={args.bundle}")
    if args.quiet:  # `widedeep-bench -q test`; a -q after `test` reaches pytest as it is
        arguments.append("-q")
    return arguments + list(args.passthrough_args)


def plugin_registered_by_entry_point() -> bool:
    from importlib.metadata import entry_points

    return any(point.value == PLUGIN_MODULE for point in entry_points(group="pytest11"))


def run(args) -> int:
    import pytest

    return exit_code(int(pytest.main(pytest_arguments(args))))


def exit_code(pytest_status: int) -> int:
    """pytest's exit status as the CLI's (see the module docstring)."""
    if pytest_status == 0:
        return EXIT_OK
    return EXIT_BAD_INPUT if pytest_status == PYTEST_USAGE_ERROR else EXIT_GATE_FAILED
