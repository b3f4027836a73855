"""Which samples a shard evaluates: a stable hash of the sample id, so every process agrees.

Shards split by *sample*, not by record key, so every variant (and both abstain settings) of a
sample lands in the same shard: they share the image and prompt prefix (prefix caching) and the
paired metrics (flip rate) compare them side by side. The hash is SHA-256 of the id, not Python's
``hash()``, which is salted per process and would give each worker a different partition.
Changing :func:`shard_of` would reassign samples of existing shard runs, so it is fixed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from robustcot.errors import ConfigError

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based); written ``index/count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"shard count must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ConfigError(
                f"shard index {self.index} is out of range for {self.count} shards (indices are 0 to {self.count - 1})"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, sample_id: str) -> bool:
        return shard_of(sample_id, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """``"1/4"`` → ``Shard(1, 4)``; anything else is a :class:`ConfigError` saying what is expected."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise ConfigError(f"shard must be written i/n (0-based index i of n shards, e.g. 0/4), got {text!r}")
    return Shard(int(match[1]), int(match[2]))


def shard_of(sample_id: str, count: int) -> int:
    """The shard (of ``count``) that owns ``sample_id``: first 8 bytes of SHA-256, big-endian, mod count."""
    digest = hashlib.sha256(sample_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def select_shard(samples: list[Any], shard: Shard | str | None) -> list[Any]:
    """The samples (and loader rejects) that ``shard`` owns; ``samples`` itself when ``shard`` is ``None``.

    Rejects are filtered with the same rule, so an unreadable source row becomes an error row in
    exactly one shard and the merge finds it where the plan puts it.
    """
    if shard is None:
        return samples
    # imported here: config.py imports this module to validate ``shard``, and the adapters
    # package costs ~0.4 s to import
    from robustcot.data.adapters.common import LoadResult, rejects_of

    owner = parse_shard(shard) if isinstance(shard, str) else shard
    return LoadResult(
        [s for s in samples if owner.owns(s.id)],
        [r for r in rejects_of(samples) if owner.owns(r.sample_id)],
    )
