"""A fast, deterministic judge of whether the think's final conclusion matches the answer.

It exists next to the LLM judges because it costs nothing per row, is exactly reproducible, and can
score every rollout during training. Its rules are explicit (and measured against hand labels in
``docs/rule_judge.md``):

- The think is cut into sentences (full stops, line breaks), sentences into clauses (``;``,
  "but", "however", "because", "so", "therefore", ...), clauses into chunks (commas, except
  commas inside a list of options).
- An option is mentioned by its text (the full option or its distinctive words, see
  :func:`robustcot.scoring.parse.option_matcher`) or by its letter in an explicit form ("option
  B", "the answer is C", "(D)", "A." opening a line, a bare capital followed by punctuation or a
  verb). A letter immediately followed by option text counts as that text's option, the same
  rule the parser applies to answers.
- A chunk with a negation ("not", "incorrect", "unlikely", "eliminate", ...) rejects the options
  it names, as does the clause after "rather than"; a list continuing past a comma inherits the
  negation, and "also" repeats the polarity of the option named before it. An option rejected
  anywhere in a sentence is not concluded by that sentence.
- A clause that still names two or more options is a hedge ("either B or C", "medium-rare"), as is
  "also"/"as well" naming a second option after the sentence concluded a first. One option: a
  conclusion.
- The last conclusion or hedge in the think decides; a later rejection of the concluded option
  withdraws it. A hedge, a think that only rejects, or one that never names an option: no
  conclusion. Consecutive lines that merely restate the option list are not conclusions.

The think is read backwards, sentence by sentence, and reading stops at the deciding sentence;
this keeps the judge at tens of thousands of responses per second on one core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from robustcot.scoring.parse import (
    OptionMatcher,
    ParsedResponse,
    lower_same_length,
    option_matcher,
    word_trie_pattern,
)

ConsistencyLabel = Literal["consistent", "inconsistent", "no_conclusion"]
RuleLabel = ConsistencyLabel | Literal["unjudged"]


@dataclass(frozen=True)
class RuleJudgement:
    """The rule judge's verdict on one parsed response.

    ``conclusion_index`` is reported even when the label is ``unjudged`` (no parsed answer), so
    the think's conclusion is available for rows whose answer failed to parse.
    """

    label: RuleLabel
    conclusion_index: int | None

    @property
    def consistent(self) -> bool | None:
        """True/False for a decided label, None for no conclusion or no answer."""
        if self.label == "consistent":
            return True
        if self.label == "inconsistent":
            return False
        return None


# A mention: (start, end, option index, restates) where ``restates`` marks "<letter> <that
# option's full text>", the shape of a line copied from the option list.
_Mention = tuple[int, int, int, bool]

# A line break, or a run of .!? before whitespace, except right after a lone capital ("the answer
# is A. B is wrong", "A. The clock is red.") where it usually belongs to an option label.
_SENTENCE_END_RE = re.compile(r"[.!?\n](?:(?<=\n)|(?<!(?<![\w'’\-])[A-Z][.!?])[.!?]*(?=\s|$))")
# Cue words, matched on lower-cased text with line breaks as spaces. The cue regex starts with a
# space, a literal the engine jumps to directly, so it only ever tries word starts; a comma,
# semicolon or full stop is seen from the space after it. A ". " left inside a sentence follows a
# lone capital ("is A. B is wrong") and separates clauses.
_CUE_WORDS = {
    "clause": "but however although though whereas while yet because since so therefore thus hence",
    "rather": "rather_than instead_of as_opposed_to",
    "neg": "not no never none neither nor cannot without incorrect wrong unlikely less_likely eliminate "
    "eliminated exclude excluded rule_out ruled_out rules_out",
    "also": "also as_well",
}
_CUES = {cue.replace("_", " "): kind for kind, cues in _CUE_WORDS.items() for cue in cues.split()}
_CUE_TRIE = word_trie_pattern([cue.split() for cue in _CUES])
_CUE_WORD = rf"(?:{_CUE_TRIE})(?![\w'’])"
_CUE_RE = re.compile(rf" (?:(?<=[,;.] )(?:{_CUE_WORD})?|{_CUE_WORD})")
_CUE_AT_START_RE = re.compile(_CUE_WORD)
_MARK_KINDS = {",": "comma", ";": "clause", ".": "clause"}
_CONTRACTED_NOT = ("n't", "n’t")
_LETTER_RE = re.compile(r"[A-Z](?![\w'’\-])")
_LINE_PREFIX_RE = re.compile(r"[ \t]*[-*•>#]*[ \t]*\(?")
_ANCHOR_BEFORE_RE = re.compile(
    r"\b(?:options?|choices?|answer)[\s:\"'(\[*]*"
    r"(?:(?:is|would\s+be|should\s+be|must\s+be|will\s+be|be)[\s:\"'(\[*]*)?$",
    re.IGNORECASE,
)
_ANCHOR_WINDOW = 32
_BARE_AFTER_RE = re.compile(
    r"[ \t]*(?:\n|[.,:;)\]!?\"*]|$|(?:is|are|was|were|must|should|seems?|would|could|can|might|may|and|or|nor"
    r"|fits?|matches|looks|appears|applies|describes|remains)\b)"
)
_LABEL_GAP_RE = re.compile(r"[\s.:)\-–—\"'*]*")
_LIST_GAP_BEFORE_RE = re.compile(r"[\s)\]\"'*]*")
_LIST_GAP_AFTER_RE = re.compile(r"\s*(?:(?:and|or|nor|&)\s+)?(?:(?:the\s+)?options?\s+)?[\"'(*]*", re.IGNORECASE)
_WORD_RE = re.compile(r"[\w'’]+")
_GLUE_WORDS = frozenset({"and", "or", "nor", "the", "a", "an", "option", "options", "either", "both"})


def _sentence_spans(think: str) -> list[tuple[int, int]]:
    """(start, end) of each non-empty sentence."""
    spans, start = [], 0
    for m in _SENTENCE_END_RE.finditer(think):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(think):
        spans.append((start, len(think)))
    return spans


def _letter_mentions(think: str, n: int, start: int, end: int) -> list[tuple[int, int, int]]:
    """Option letters used as such: "option B", "the answer is C", "(D)", "A." opening a line,
    or a bare capital followed by punctuation or a verb ("D is correct").

    A bare "I" is the pronoun far more often than option I, so it only counts in explicit forms;
    "A" followed by a noun is the article and does not count.
    """
    out = []
    for m in _LETTER_RE.finditer(think, start, end):
        p = m.start()
        option = ord(think[p]) - 65
        if option >= n or (p and (think[p - 1].isalnum() or think[p - 1] in "_'’-")):
            continue
        after = think[p + 1 : p + 2]
        if after in (".", ")", ":") and _LINE_PREFIX_RE.fullmatch(think, think.rfind("\n", 0, p) + 1, p):
            out.append((p, p + 2, option))  # "A." opening a line is one token
        elif (
            (think[p] != "I" and _BARE_AFTER_RE.match(think, p + 1))
            or (after == ")" and think[p - 1 : p] == "(")
            or _ANCHOR_BEFORE_RE.search(think, max(0, p - _ANCHOR_WINDOW), p)
        ):
            out.append((p, p + 1, option))
    return out


def _text_first(mention: tuple[int, int, int, bool | None]) -> tuple[int, bool]:
    """Sort key: by position, an option's text before a letter at the same place."""
    return mention[0], mention[3] is None


def _mentions(think: str, low: str, matcher: OptionMatcher, start: int, end: int) -> list[_Mention]:
    """Option mentions in ``think[start:end]`` in order, a letter label merged with the option
    text right after it.

    "A. The color of the soda can is silver." names option B when B is the silver one: the text
    decides over the letter in front of it, as in the parser.
    """
    texts = matcher.text_mentions(low, start, end)
    letters = _letter_mentions(think, matcher.n, start, end)
    if not letters:
        return [(s, e, o, False) for s, e, o, _ in texts]
    found: list[_Mention] = []
    last_letter: tuple[int, int, int] | None = None
    merged = sorted([*texts, *((s, e, o, None) for s, e, o in letters)], key=_text_first)
    for s, e, option, full in merged:
        if full is None:  # a letter
            if found and s < found[-1][1]:
                continue  # inside an option's own text
            found.append((s, e, option, False))
            last_letter = (s, e, option)
        elif last_letter is not None and _LABEL_GAP_RE.fullmatch(think, last_letter[1], s):
            found[-1] = (last_letter[0], e, option, full and last_letter[2] == option)
            last_letter = None
        else:
            found.append((s, e, option, False))
            last_letter = None
    return found


@dataclass(slots=True)
class _Chunk:
    """A comma-delimited piece of a sentence, the unit a negation applies to."""

    clause: int
    negated: bool
    start: int
    end: int
    also: bool = False
    mentions: list[_Mention] = field(default_factory=list)


def _cue_kind(low: str, cue: str, end: int) -> str:
    """Kind of a cue word. "No," / "no:" is an interjection that turns to a new clause ("Hmm, no:
    the answer is A"), not a negation of what follows."""
    if cue == "no" and low[end : end + 1] in (",", ":", ";", ".", "!"):
        return "clause"
    return _CUES[" ".join(cue.split())]


def _cues(low: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every clause, chunk, negation and "also" cue in a sentence, in order."""
    found = []
    if start == 0:
        m = _CUE_AT_START_RE.match(low, 0, end)
        if m is not None:
            found.append((0, m.end(), _cue_kind(low, m.group(), m.end())))
    for m in _CUE_RE.finditer(low, max(start - 1, 0), end):
        p = m.start()
        if p > start and low[p - 1] in _MARK_KINDS:  # the space after a mark
            found.append((p - 1, p, _MARK_KINDS[low[p - 1]]))
        if m.end() > p + 1:
            found.append((p + 1, m.end(), _cue_kind(low, m.group()[1:], m.end())))
    for mark in _CONTRACTED_NOT:
        i = low.find(mark, start, end)
        while i != -1:
            found.append((i, i + 3, "neg"))
            i = low.find(mark, i + 3, end)
    found.sort()
    return found


def _chunks(
    think: str, start: int, end: int, mentions: list[_Mention], cues: list[tuple[int, int, str]]
) -> list[_Chunk]:
    """Cut a sentence into clauses and chunks at its cues and mark negations and "also"."""
    chunks = [_Chunk(0, False, start, end)]
    clause, rather, mi, n = 0, False, 0, len(mentions)
    for p, cue_end, kind in cues:
        while mi < n and mentions[mi][1] <= p:
            mi += 1
        if mi < n and mentions[mi][0] <= p:
            continue  # inside an option's own words ("no person", "I'm not sure")
        if kind == "neg":
            chunks[-1].negated = True
            continue
        if kind == "also":
            chunks[-1].also = True
            continue
        if kind == "comma":
            if (
                0 < mi < n
                and _LIST_GAP_BEFORE_RE.fullmatch(think, mentions[mi - 1][1], p)
                and _LIST_GAP_AFTER_RE.fullmatch(think, cue_end, mentions[mi][0])
            ):
                continue  # a comma inside a list of options keeps the list in one chunk
        else:
            clause, rather = clause + 1, kind == "rather"
        chunks[-1].end = p
        chunks.append(_Chunk(clause, rather, cue_end, end))
    ci = 0
    for mention in mentions:
        while ci + 1 < len(chunks) and chunks[ci + 1].start <= mention[0]:
            ci += 1
        chunks[ci].mentions.append(mention)
    return chunks


def _residual_words(think: str, chunk: _Chunk) -> int:
    """Words in a chunk that are neither option mentions nor list glue ("and", "or", "the")."""
    count, cursor = 0, chunk.start
    for m_start, m_end, _, _ in [*chunk.mentions, (chunk.end, chunk.end, -1, False)]:
        count += sum(1 for w in _WORD_RE.findall(think, cursor, m_start) if w.lower() not in _GLUE_WORDS)
        cursor = m_end
    return count


def _propagate_negation(think: str, chunks: list[_Chunk]) -> None:
    """Carry a negation over list continuations and "also".

    "no cat, mouse, or dog": the chunks after the comma continue the negated list (at most one
    word besides options and glue). "A is unlikely, and D is also ...": "also" repeats the
    polarity of the option named just before it.
    """
    last_named: _Chunk | None = None
    for prev, chunk in zip([None, *chunks[:-1]], chunks, strict=True):
        if chunk.negated:
            pass
        elif prev is not None and prev.negated and prev.clause == chunk.clause:
            chunk.negated = _residual_words(think, chunk) <= 1
        elif chunk.also and chunk.mentions and last_named is not None and last_named.negated:
            chunk.negated = True
        if chunk.mentions:
            last_named = chunk


class _Event(NamedTuple):
    """What one sentence contributes: a conclusion, a hedge, or nothing but rejections.

    ``also`` marks a conclusion phrased as an addition ("B is also possible"), which only holds if
    it repeats the conclusion before it.
    """

    kind: Literal["conclusion", "hedge", "none"]
    option: int | None
    rejected: set[int]
    also: bool = False


def _sentence_event(think: str, low: str, start: int, end: int, mentions: list[_Mention]) -> _Event:
    """The sentence's last clause event.

    Each clause that names options after rejections are removed is an event: one option a
    conclusion, two or more a hedge, as is "also" naming a second option after the sentence
    concluded a first.
    """
    cues = _cues(low, start, end)
    if not cues:  # one chunk: the options it names decide
        named = {m[2] for m in mentions}
        return _Event("conclusion", mentions[0][2], set()) if len(named) == 1 else _Event("hedge", None, set())
    chunks = _chunks(think, start, end, mentions, cues)
    _propagate_negation(think, chunks)
    rejected = {m[2] for chunk in chunks if chunk.negated for m in chunk.mentions}
    event, concluded = _Event("none", None, rejected), None
    clause, named, also = 0, [], False
    for chunk in [*chunks, _Chunk(-1, True, end, end)]:  # the sentinel flushes the last clause
        if chunk.clause != clause:
            if len(named) >= 2 or (named and also and concluded not in (None, named[0])):
                event = _Event("hedge", None, rejected)
            elif named:
                event = _Event("conclusion", named[0], rejected, also and concluded is None)
                concluded = named[0]
            clause, named, also = chunk.clause, [], False
        also = also or chunk.also
        if not chunk.negated:
            named.extend(m[2] for m in chunk.mentions if m[2] not in rejected and m[2] not in named)
    return event


def _restated(mentions: list[_Mention]) -> int | None:
    """The option a sentence merely restates ("B. <option B's text>"), else None."""
    if len(mentions) == 1 and mentions[0][3]:
        return mentions[0][2]
    return None


def _events_backwards(think: str, options: Sequence[str]) -> Iterator[_Event]:
    """Sentence events from the last sentence to the first, found only as far as they are read.

    Sentences naming no option are skipped, as are lines restating the option list.
    """
    matcher = option_matcher(options)
    low = lower_same_length(think).replace("\n", " ")
    spans = _sentence_spans(think)
    found: dict[int, list[_Mention]] = {}

    def mentions_of(k: int) -> list[_Mention]:
        if k not in found:
            found[k] = _mentions(think, low, matcher, *spans[k]) if 0 <= k < len(spans) else []
        return found[k]

    for k in range(len(spans) - 1, -1, -1):
        mentions = mentions_of(k)
        if not mentions:
            continue
        here = _restated(mentions)
        if here is not None and any(_restated(mentions_of(j)) not in (None, here) for j in (k - 1, k + 1)):
            continue  # part of a copied option list
        yield _sentence_event(think, low, *spans[k], mentions)


def think_conclusion(think: str, options: Sequence[str]) -> int | None:
    """The option the think finally concludes, or None for no conclusion (see module rules)."""
    if not think:
        return None
    events = _events_backwards(think, options)
    rejected_later: set[int] = set()
    for event in events:
        if event.kind == "hedge" or event.option in rejected_later:
            return None
        if event.kind == "conclusion":
            if event.also:
                earlier = next((e for e in events if e.kind != "none"), None)
                if earlier is not None and earlier.option != event.option:
                    return None  # "A is right. B is also right.": two candidates
            return event.option
        rejected_later |= event.rejected
    return None


def judge_rule(parsed: ParsedResponse, options: Sequence[str]) -> RuleJudgement:
    """Compare the think's final conclusion with the parsed answer.

    No parsed answer → ``unjudged``; a think without a conclusion (including no think at all, as
    under a stop-think prefill) → ``no_conclusion``, never counted as consistent or inconsistent.
    """
    conclusion = think_conclusion(parsed.think or "", options)
    if parsed.answer_index is None:
        return RuleJudgement("unjudged", conclusion)
    if conclusion is None:
        return RuleJudgement("no_conclusion", None)
    label: ConsistencyLabel = "consistent" if conclusion == parsed.answer_index else "inconsistent"
    return RuleJudgement(label, conclusion)


def quadrant(consistent: bool | None, correct: bool | None) -> str | None:
    """``consistent_correct`` etc. for a decided row; None when either side is undecided."""
    if consistent is None or correct is None:
        return None
    return f"{'consistent' if consistent else 'inconsistent'}_{'correct' if correct else 'incorrect'}"
