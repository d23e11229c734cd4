"""Errors a user can cause: caught once in the CLI, printed as one line, exit code 2."""


class BenchmarkError(Exception):
    """A problem with the user's input (data, options, paths), not a bug in the harness."""
