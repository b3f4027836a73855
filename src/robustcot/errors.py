"""Exceptions that name the item at fault, so a user can find it in their data."""


class RobustCoTError(Exception):
    """Base class for errors raised by robustcot."""


class SampleError(RobustCoTError, ValueError):
    """A sample is malformed; the message starts with the sample id."""

    def __init__(self, sample_id: str, problem: str) -> None:
        self.sample_id = sample_id
        self.problem = problem
        super().__init__(f"sample {sample_id!r}: {problem}")


class ConfigError(RobustCoTError, ValueError):
    """A configuration value is invalid or inconsistent."""
