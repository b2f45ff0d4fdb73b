"""Subcommands of ``widedeep-bench``; each module has ``register(subparsers)``.

A command's ``run(args)`` returns a JSON-able object, printed as the last line of stdout, or None.
"""
