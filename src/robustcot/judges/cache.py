"""Append-only JSONL cache of judge replies, replayed on open; a torn last line is dropped.

Judging a large run with a 32B model costs GPU hours, and a judging pass may be interrupted or
repeated with one more judge. Each reply is appended as one JSON line as soon as its batch
returns, so a crash loses at most the batch in flight. A crash mid-write can leave the last line
without its newline: that fragment is ignored on replay and cut off before the next append, so
the file never holds a line glued to a torn one. A malformed *complete* line is real corruption
and raises instead of being skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from robustcot.errors import ConfigError


def cache_key(judge_spec: str, prompt_version: str, system: str, prompt: str) -> str:
    """Deterministic key: the same judge, prompt version and rendered prompt give the same reply."""
    payload = json.dumps([judge_spec, prompt_version, system, prompt], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class JudgeCache:
    """Replies keyed by :func:`cache_key`, persisted in one JSONL file (one writer at a time)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._replies: dict[str, str] = {}
        self._torn_at: int | None = None
        self.torn_line_dropped = False
        if self.path.exists():
            self._replay()

    def _replay(self) -> None:
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            self.torn_line_dropped = True
            self._torn_at = complete
        for number, line in enumerate(data[:complete].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                self._replies[entry["key"]] = entry["reply"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ConfigError(f"{self.path} line {number} is corrupt ({exc}); move the file away to rejudge") from exc

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, key: str) -> str | None:
        return self._replies.get(key)

    def add(self, entries: list[dict[str, str]]) -> None:
        """Append entries (each with ``key`` and ``reply``; other fields are kept for auditing)."""
        if not entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._torn_at is not None:
            os.truncate(self.path, self._torn_at)  # drop the torn tail before the first append
            self._torn_at = None
        blob = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in entries).encode()
        with open(self.path, "ab") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        for e in entries:
            self._replies[e["key"]] = e["reply"]
