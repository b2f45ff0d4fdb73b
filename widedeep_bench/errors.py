"""The suite's exception types and its exit codes.

Every error the suite raises on purpose is a ``WidedeepError`` whose message names the file, line,
field or tensor involved and what was expected, so that a user can act on it without a traceback.

Exit codes, the same for every command: 0 every gate passed (or the step succeeded), 1 a gate failed or
did not run, 2 bad usage or bad input.
"""

EXIT_OK, EXIT_GATE_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class WidedeepError(Exception):
    """A failure the user can act on (bad input, missing runtime, corrupt cache, failed check)."""

    exit_code = EXIT_BAD_INPUT


class GatesFailed(WidedeepError):
    """A run's gates did not all run and pass; ``result`` is the command's JSON summary all the same."""

    exit_code = EXIT_GATE_FAILED

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result
