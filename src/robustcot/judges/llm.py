"""One LLM judge: any :class:`~robustcot.models.base.Backend` behind the blind judge prompt.

Prompts are rendered, looked up in the cache, deduplicated (stop-think rows often repeat the same
think and answer), and only the misses are sent to the backend, in batches. Replies are cached as
soon as a batch returns; backend errors are not cached, so a later pass retries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from robustcot.judges.cache import JudgeCache, cache_key
from robustcot.judges.labels import JudgeLabel, compare
from robustcot.judges.prompts import PROMPT_VERSION, SYSTEM, ReplyStatus, parse_reply, render_prompt
from robustcot.models.base import Backend, GenerationRequest
from robustcot.prompting.conversation import Conversation


@dataclass(frozen=True)
class JudgeItem:
    """What a judge may see of one record: nothing about gold or the perturbation."""

    key: str
    question: str
    options: tuple[str, ...]
    think: str
    answer_text: str
    answer_index: int
    """The parsed answer; used only by the deterministic comparison, never shown as an index."""


@dataclass(frozen=True)
class Verdict:
    """One judge's reading of one item."""

    label: JudgeLabel
    conclusion_index: int | None
    status: ReplyStatus
    reply: str
    cached: bool


class LLMJudge:
    """Judges items with one backend; ``spec`` names it in cache keys and record columns."""

    def __init__(self, spec: str, backend: Backend, cache: JudgeCache | None = None, *, batch_size: int = 64) -> None:
        self.spec = spec
        self.backend = backend
        self.cache = cache
        self.batch_size = batch_size
        self.requests_sent = 0
        """Backend requests made over this judge's life (cache hits and duplicates excluded)."""

    def judge(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        """Verdicts in item order."""
        prompts = [render_prompt(i.question, list(i.options), i.think, i.answer_text) for i in items]
        keys = [cache_key(self.spec, PROMPT_VERSION, SYSTEM, p) for p in prompts]
        replies: dict[str, tuple[str, bool, str | None]] = {}  # key -> (reply, cached, error)
        missing: dict[str, str] = {}
        for key, prompt in zip(keys, prompts, strict=True):
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                replies[key] = (hit, True, None)
            else:
                missing.setdefault(key, prompt)
        pending = list(missing.items())
        for lo in range(0, len(pending), self.batch_size):
            replies.update(self._ask(pending[lo : lo + self.batch_size]))
        out = []
        for item, key in zip(items, keys, strict=True):
            reply, cached, error = replies[key]
            out.append(self._verdict(item, reply, cached, error))
        return out

    def _ask(self, batch: list[tuple[str, str]]) -> dict[str, tuple[str, bool, str | None]]:
        from robustcot.evaluate import generate_isolating_failures

        requests = [
            GenerationRequest(key=key, conversation=Conversation(user_text=prompt, system=SYSTEM), letters=[])
            for key, prompt in batch
        ]
        self.requests_sent += len(requests)
        try:
            completions = generate_isolating_failures(self.backend, requests)
        except Exception as exc:  # a one-request batch that failed
            return {batch[0][0]: ("", False, f"{type(exc).__name__}: {exc}")}
        got: dict[str, tuple[str, bool, str | None]] = {}
        to_cache = []
        for (key, _), completion in zip(batch, completions, strict=True):
            if completion.error:
                got[key] = ("", False, completion.error)
                continue
            got[key] = (completion.text, False, None)
            to_cache.append({"key": key, "judge": self.spec, "prompt_version": PROMPT_VERSION, "reply": completion.text})
        if self.cache is not None:
            self.cache.add(to_cache)
        return got

    @staticmethod
    def _verdict(item: JudgeItem, reply: str, cached: bool, error: str | None) -> Verdict:
        if error is not None:
            return Verdict("unparsed", None, "error", error, cached)
        parsed = parse_reply(reply, len(item.options))
        if parsed.status != "ok":
            return Verdict("unparsed", None, parsed.status, reply, cached)
        return Verdict(compare(parsed.conclusion_index, item.answer_index), parsed.conclusion_index, "ok", reply, cached)
