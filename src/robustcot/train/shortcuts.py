"""Shortcut detectors: signs that a policy games the reward instead of reasoning.

GRPO rewards only the format and the final answer, so a policy can drift towards reasoning that
carries no information: empty thinks (the answer alone earns the full reward), very short thinks,
or one memorised template repeated across the rollouts of a group. These are logged next to the
reward so such drift shows up in training curves, not only in later evaluations.

A group is the ``G`` rollouts of one prompt. Two thinks are near duplicates when their normalised
texts are equal or the Jaccard similarity of their word 5-gram sets is at least ``threshold``
(texts shorter than five words are compared as one whole-text shingle).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

SHINGLE = 5
NEAR_DUPLICATE_THRESHOLD = 0.9
_WORD_RE = re.compile(r"\w+")


def normalise_think(text: str | None) -> str:
    """Lower-case words joined by single spaces: formatting and punctuation do not make thinks differ.

    Anything that is not a string (``None``, or the NaN pandas stores for a missing think) is no think.
    """
    return " ".join(_WORD_RE.findall(text.lower())) if isinstance(text, str) else ""


def is_empty_think(text: str | None) -> bool:
    """No think at all, or one without a single word (``<think> </think>``)."""
    return not normalise_think(text)


def _shingles(normalised: str) -> frozenset[tuple[str, ...]]:
    words = normalised.split()
    if len(words) < SHINGLE:
        return frozenset({tuple(words)})
    return frozenset(tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1))


def near_duplicate_share(thinks: Sequence[str | None], threshold: float = NEAR_DUPLICATE_THRESHOLD) -> float:
    """Share of non-empty thinks in a group that have a near duplicate among the others.

    Empty thinks are left out (they are counted by :func:`is_empty_think`), so a group of empty
    thinks does not also read as a group of copies. Returns 0.0 for fewer than two non-empty thinks.
    """
    texts = [t for t in (normalise_think(x) for x in thinks) if t]
    if len(texts) < 2:
        return 0.0
    sets = [_shingles(t) for t in texts]
    duplicated = [False] * len(texts)
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if duplicated[i] and duplicated[j]:
                continue
            same = texts[i] == texts[j]
            if not same:
                union = len(sets[i] | sets[j])
                same = union > 0 and len(sets[i] & sets[j]) / union >= threshold
            if same:
                duplicated[i] = duplicated[j] = True
    return sum(duplicated) / len(texts)


@dataclass(frozen=True)
class ShortcutStats:
    """Shortcut detectors over a batch of groups (each statistic averaged over responses)."""

    mean_think_chars: float
    empty_think_share: float
    near_duplicate_share: float
    """Mean over groups of :func:`near_duplicate_share`."""
    n_responses: int
    n_groups: int

    def as_dict(self) -> dict[str, float]:
        return {
            "think_chars": self.mean_think_chars,
            "empty_think_share": self.empty_think_share,
            "near_duplicate_share": self.near_duplicate_share,
        }


def shortcut_stats(thinks: Sequence[str | None], groups: Sequence[object]) -> ShortcutStats:
    """Detectors for ``thinks`` whose group (prompt) ids are ``groups`` (one per think)."""
    if len(thinks) != len(groups):
        raise ValueError(f"{len(thinks)} thinks but {len(groups)} group ids")
    if not thinks:
        return ShortcutStats(0.0, 0.0, 0.0, 0, 0)
    by_group: dict[object, list[str | None]] = {}
    for think, group in zip(thinks, groups, strict=True):
        by_group.setdefault(group, []).append(think)
    lengths = [len((t or "").strip()) for t in thinks]
    return ShortcutStats(
        mean_think_chars=sum(lengths) / len(thinks),
        empty_think_share=sum(is_empty_think(t) for t in thinks) / len(thinks),
        near_duplicate_share=sum(near_duplicate_share(g) for g in by_group.values()) / len(by_group),
        n_responses=len(thinks),
        n_groups=len(by_group),
    )
