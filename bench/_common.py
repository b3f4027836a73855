"""Shared setup for the bench scripts: the tiny model and a timer."""

from __future__ import annotations

import time
from contextlib import contextmanager


@contextmanager
def timed(results: dict, name: str):
    start = time.perf_counter()
    yield
    results[name] = time.perf_counter() - start
