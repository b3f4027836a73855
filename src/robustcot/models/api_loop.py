"""A private asyncio loop on a daemon thread, so synchronous callers can reuse one async client.

``asyncio.run`` per call would build a new HTTP client each time: a fresh TLS context (tens of
milliseconds), new connections and handshakes for every small batch. Keeping one loop alive for
the backend's lifetime keeps the client, its connection pool and the adaptive concurrency limit
warm across ``generate`` calls, and works the same when the caller already runs a loop (notebooks).
Owners register async closers (the HTTP client's ``close``) that run before the loop stops, so
connections are released cleanly on ``close()`` or, via ``weakref.finalize``, at exit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
logger = logging.getLogger(__name__)


class BackgroundLoop:
    """Runs coroutines to completion on one long-lived loop thread."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closers: list[Callable[[], Coroutine[Any, Any, Any]]] = []

    def add_closer(self, closer: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Await ``closer()`` on the loop when it is closed."""
        self._closers.append(closer)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait; an interrupt of the caller cancels it there."""
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        """Run the closers, then stop the thread; a later :meth:`run` starts a new loop."""
        with self._lock:
            loop, thread, closers = self._loop, self._thread, self._closers
            self._loop = self._thread = None
            self._closers = []
        if loop is None or thread is None:
            return
        if thread is threading.current_thread():  # collected on our own thread: cannot wait here
            loop.call_soon(loop.stop)
            return
        for closer in closers:
            try:
                asyncio.run_coroutine_threadsafe(closer(), loop).result(timeout=10)
            except Exception as exc:  # closing is best effort; the thread stops regardless
                logger.debug("%s: closer failed: %s", self._name, exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name=self._name, daemon=True)
                self._thread.start()
            return self._loop
