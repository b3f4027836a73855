"""Token and cost budget for API runs: stop sending once a limit is exceeded, never drop silently.

Usage is only known after a response, so with ``c`` requests in flight a run can overshoot by up to
``c`` responses; the check happens before every send (first attempts and retries alike).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Budget:
    """Running totals of reported usage against optional limits."""

    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    price_input_per_1k: float | None = None
    price_output_per_1k: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_usd(self) -> float | None:
        """Estimated spend; ``None`` without prices."""
        if self.price_input_per_1k is None or self.price_output_per_1k is None:
            return None
        return (
            self.prompt_tokens * self.price_input_per_1k + self.completion_tokens * self.price_output_per_1k
        ) / 1000

    def add(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        self.prompt_tokens += prompt_tokens or 0
        self.completion_tokens += completion_tokens or 0

    def exhausted(self) -> str | None:
        """Why no further request may be sent, or ``None`` while within budget."""
        if self.max_total_tokens is not None and self.total_tokens > self.max_total_tokens:
            return f"{self.total_tokens} tokens used, max_total_tokens={self.max_total_tokens}"
        cost = self.cost_usd
        if self.max_cost_usd is not None and cost is not None and cost > self.max_cost_usd:
            return f"estimated ${cost:.4f} spent, max_cost_usd={self.max_cost_usd}"
        return None
