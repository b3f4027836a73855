"""An asyncio concurrency limit that adapts to rate limits (additive increase, multiplicative decrease).

A fixed limit is either too timid for a local vLLM server or too aggressive for a shared API
quota. Like TCP congestion control, the limit shrinks by a factor on a 429 and grows by about one
slot per round of successful requests. Requests already in flight when the limit shrinks were sent
under the old limit, so their 429s are the same signal: only a 429 for a request *started after*
the last decrease shrinks the limit again, which keeps one burst from collapsing it to the floor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class AdaptiveLimiter:
    """At most ``int(limit)`` holders of :meth:`slot` at a time; ``limit`` adapts within bounds.

    Create it inside the event loop that uses it (asyncio primitives bind to one loop).
    """

    def __init__(
        self, initial: float, minimum: int, maximum: int, *, decrease: float = 0.5, adaptive: bool = True
    ) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.limit = float(min(max(initial, minimum), maximum))
        self.decrease = decrease
        self.adaptive = adaptive
        self.in_flight = 0
        #: Smallest limit reached, for reports and tests.
        self.lowest = self.limit
        self.decreases = 0
        self._last_decrease = float("-inf")
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold one slot; yields the time it was granted (pass it to :meth:`on_rate_limit`)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1
        try:
            yield time.monotonic()
        finally:
            async with self._changed:
                self.in_flight -= 1
                # Wake as many waiters as there are free slots: more than one if the limit grew.
                self._changed.notify(max(1, int(self.limit) - self.in_flight))

    def on_success(self) -> None:
        """Grow by ``1/limit``: about one slot per full round of successes (woken on the next release)."""
        if not self.adaptive or self.limit >= self.maximum:
            return
        self.limit = min(float(self.maximum), self.limit + 1 / self.limit)

    def on_rate_limit(self, granted_at: float) -> None:
        """Shrink multiplicatively, unless the throttled request predates the last decrease."""
        if not self.adaptive or granted_at < self._last_decrease:
            return
        self.limit = max(float(self.minimum), self.limit * self.decrease)
        self.lowest = min(self.lowest, self.limit)
        self.decreases += 1
        self._last_decrease = time.monotonic()
