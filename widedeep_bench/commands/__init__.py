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


def check_outputs(outputs: dict[str, object], inputs: list) -> None:
    """Before any report is read: each output (option label -> path, None when not given) must be a file path
    this user can write, and none may name an input (``--markdown R.json`` would replace the report)."""
    import os
    from pathlib import Path

    from widedeep_bench.cache import check_output_path
    from widedeep_bench.errors import WidedeepError

    given = {label: Path(path) for label, path in outputs.items() if path is not None}
    read = {Path(path).resolve() for path in inputs}
    for label, path in given.items():
        check_output_path(path, f"{label} {path}")
        if path.resolve() in read:
            raise WidedeepError(f"{label} {path}: is one of the inputs; refusing to replace it")
        parent = next(p for p in [path.resolve().parent, *path.resolve().parents] if p.exists())
        if not os.access(parent, os.W_OK | os.X_OK):
            raise WidedeepError(f"{label} {path}: cannot write in {parent} (permission denied)")
    if len({path.resolve() for path in given.values()}) < len(given):
        raise WidedeepError(f"{', '.join(given)}: two outputs name the same file")


def write_text_atomically(path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a reader never sees half a page)."""
    from pathlib import Path

    from widedeep_bench.cache import atomic_file

    with atomic_file(Path(path)) as temporary:
        temporary.write_text(text)


def html_pages(option: str = "--html"):
    """``widedeep_bench.reporting.html``, or one line saying which extra brings matplotlib (its figures)."""
    from widedeep_bench.errors import WidedeepError

    try:
        from widedeep_bench.reporting import html
    except ImportError as exc:
        raise WidedeepError(f"{option} draws its figures with matplotlib, which is not importable ({exc}): "
                            f"pip install 'widedeep-bench[report]'") from exc
    return html
