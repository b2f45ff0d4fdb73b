"""``test [--bundle DIR] [pytest args]``: the conformance suite shipped in the package, from any directory.

Runs pytest on ``widedeep_bench/conformance`` with the arguments given (``-m accuracy``, ``--wd-profile``,
``--wd-report``, ``-n 2``, ...); the plugin is the installed one. pytest's exit status is mapped to the
CLI's: 0 every gate passed, 1 a gate failed or did not run (tests failed, or none were collected), 2 bad
usage or bad input (pytest's usage errors, which is how the suite refuses a bad option), an interrupted
run, or pytest's own internal error.
"""

from __future__ import annotations

from pathlib import Path

from widedeep_bench.errors import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK

CONFORMANCE_DIR = Path(__file__).resolve().parents[1] / "conformance"
PLUGIN_MODULE = "widedeep_bench.pytest_plugin"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "test", help="run the conformance suite (pytest); other arguments go to pytest",
        description="Run the conformance suite shipped in the package with pytest, from any directory. "
                    "Arguments this command does not know go to pytest: -m accuracy, --wd-saved-model DIR, "
                    "--wd-eval-csv FILE, --wd-profile NAME, --wd-report PATH, -n 2, -q, ... "
                    "Exit 0 every gate passed, 1 a gate failed or did not run, 2 bad usage or bad input.")
    parser.add_argument("--bundle", metavar="DIR",
                        help="a bundle written by `widedeep-bench bundle` on a reference machine: the ONNX, "
                             "reference probabilities and eval set to test against (same as --wd-bundle)")
    parser.set_defaults(run=run, passthrough=True)


def pytest_arguments(args) -> list[str]:
    """The pytest command line ``test`` runs: the shipped tests, no cache directory written beside them (the
    package may be read-only), the rootdir where the user is, and the plugin named only when the installed
    package does not already register it (a checkout on ``PYTHONPATH``)."""
    arguments = [str(CONFORMANCE_DIR), "-p", "no:cacheprovider", "--rootdir", str(Path.cwd()), "--import-mode=importlib"]
    if not plugin_registered_by_entry_point():
        arguments += ["-p", PLUGIN_MODULE]
    if args.bundle:
        arguments.append(f"--wd-bundle={args.bundle}")
    if args.quiet and "-q" not in args.passthrough_args:
        arguments.append("-q")
    return arguments + list(args.passthrough_args)


def plugin_registered_by_entry_point() -> bool:
    from importlib.metadata import entry_points

    return any(point.value == PLUGIN_MODULE for point in entry_points(group="pytest11"))


def run(args) -> int:
    import pytest

    status = pytest.main(pytest_arguments(args))
    return exit_code(int(status))


def exit_code(pytest_status: int) -> int:
    """pytest's exit status as the CLI's (see the module docstring)."""
    if pytest_status == 0:
        return EXIT_OK
    if pytest_status in (1, 5):  # tests failed; no tests collected (nothing was measured)
        return EXIT_GATE_FAILED
    return EXIT_BAD_INPUT  # 2 interrupted, 3 internal error, 4 usage error
