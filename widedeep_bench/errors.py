"""The suite's one exception type.

Every error the suite raises on purpose is a ``WidedeepError`` whose message names the file, line,
field or tensor involved and what was expected, so that a user can act on it without a traceback.
"""


class WidedeepError(Exception):
    """A failure the user can act on (bad input, missing runtime, corrupt cache, failed check)."""
