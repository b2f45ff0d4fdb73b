"""Progress bars that say what a long step is doing, silent under ``-q``.

Quiet is decided by ``WIDEDEEP_QUIET=1`` (set by ``widedeep-bench -q`` and by pytest's
``-q``), so library code never needs a verbosity argument threaded through it.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm


def quiet() -> bool:
    return os.environ.get("WIDEDEEP_QUIET", "") not in ("", "0")


def progress(iterable=None, *, desc: str, total: float | None = None, unit: str = "it", **kwargs) -> tqdm:
    """A tqdm bar on stderr with a description, disabled when quiet."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=quiet(), file=sys.stderr,
                dynamic_ncols=True, leave=False, **kwargs)


def say(message: str) -> None:
    """One line of narration on stderr (what the step is doing), unless quiet."""
    if not quiet():
        print(f"widedeep_bench: {message}", file=sys.stderr, flush=True)
