"""Errors a user can cause in the model stage (missing weights, bad model dir): one clear line."""

from benchmark.core.errors import BenchmarkError


class ModelError(BenchmarkError, ValueError):
    """Raised for problems the user can fix; the CLI prints the message and exits with code 2."""
