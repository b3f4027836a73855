"""Letter uncertainty from the per-letter log-probabilities a backend reads at the answer position."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LetterUncertainty:
    """The distribution restricted to the shown option letters, and what it says."""

    probs: list[float]
    """Renormalised over the shown options, in option order."""
    mass: float
    """Full-vocabulary probability on the option letters before renormalising (a readout check)."""
    entropy: float
    """Shannon entropy in nats."""


def letter_uncertainty(logprobs: dict[str, float], letters: list[str]) -> LetterUncertainty | None:
    """Restrict to ``letters``, renormalise, and compute entropy; ``None`` when no letter has mass."""
    values = [logprobs.get(letter, float("-inf")) for letter in letters]
    top = max(values)
    if top == float("-inf"):
        return None
    weights = [math.exp(v - top) for v in values]
    total = sum(weights)
    probs = [w / total for w in weights]
    mass = math.exp(top) * total
    entropy = -sum(p * math.log(p) for p in probs if p > 0)
    return LetterUncertainty(probs=probs, mass=mass, entropy=entropy)
