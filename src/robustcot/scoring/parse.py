"""Split a model response into its reasoning and its answer, and map the answer to an option.

Responses of RL-trained VLMs are messy: tags get nested, duplicated, mangled or never closed, the
answer comes as a letter, as option text, or as both disagreeing. The parser recovers what it can by
explicit rules and says what went wrong in ``status``; it never guesses an option.

Rules (see ``docs/rule_judge.md`` for the measured behaviour on real outputs):

- The assistant prefill and the continuation are parsed as one text, so the judged think is the
  prefill's reasoning followed by the model's own.
- The think is every ``<think>`` block with its tags removed. A ``</think>`` with no opening tag
  means the chat template opened it: the text before it is the think. A ``<think>`` that is never
  closed ends at the first ``<answer>`` after it (status ``unclosed_think``).
- The answer is the last top-level ``<answer>`` block; when only blocks nested inside the think
  exist, the last of those. A ``</answer>`` with no opening tag (the opening was mangled, e.g. a
  bare ``answer`` line) is recovered from the text just before it.
- With no answer tag at all (status ``no_answer_tag``) an answer is read only from text after a
  closed think, and only when it is explicit: an ``Answer: X`` / ``the answer is X`` marker, or a
  single line that is itself an answer. Nothing is read from an unclosed (cut-off) think.
- Answer text maps to an option by exact option text (case, spacing and edge punctuation
  ignored), by a letter (``A``, ``(B)``, ``C.``, ``Answer: D``), or by the distinctive part of the
  options (``Purple`` for "The color of the umbrella is purple."). When a letter comes with option
  text that names a different option (``A. right`` where A is "left"), the text decides: the letter
  is the part a model gets wrong when it copies an option list. Letters outside the options
  (``E`` of four, ``Z``) give no index.
- ``answer_style`` ``"letter"`` and ``"option_text"`` parse alike (models asked for one often give
  the other); ``"final_answer"`` takes the answer after the last ``Final Answer:`` outside the think
  (the reasoning before it is the think when there are no think tags), and falls back to
  ``<answer>`` tags when the marker is missing.
- Status precedence: ``empty`` > ``unclosed_think`` > ``no_answer_tag`` > ``unparseable`` > ``ok``;
  ``answer_index`` is still filled when an option was identified under a non-``ok`` status.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

AnswerStyle = Literal["letter", "option_text", "final_answer"]
ParseStatus = Literal["ok", "no_answer_tag", "unclosed_think", "empty", "unparseable"]


@dataclass(frozen=True)
class ParsedResponse:
    """What the parser recovered from one response.

    ``think`` is None only when the text has no think at all; ``answer_text`` is None when there
    was no answer container and no explicit fallback answer.
    """

    think: str | None
    answer_text: str | None
    answer_index: int | None
    status: ParseStatus


# --------------------------------------------------------------------------- option matching

_NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)
_WORD_TO_DIGIT = {w: str(i) for i, w in enumerate(_NUMBER_WORDS)}
_WORD_RE = re.compile(r"[\w']+")
_NEGATION_RE = re.compile(r"\b(?:not|no|never|none|neither|nor|cannot)\b|n't\b", re.IGNORECASE)
_MAX_NUMBER_TOKENS = 3  # spell-out variants grow as 2**k; longer numeric options match digits only
# "no" as the number zero: "there are no squares" names the option "0" (a quantifier before a word;
# "No, ..." is an interjection and "no" alone an answer to a yes/no question).
_NO_AS_ZERO_RE = re.compile(r"no(?=[ \t]+[a-z])")


def normalise(text: str) -> str:
    """Lower-case words joined by single spaces, number words as digits.

    Punctuation, hyphens and spacing differ freely between an option and how a model writes it
    ("ice-cream" / "ice cream", "Two" / "2"); comparing word sequences ignores those differences.
    """
    if "’" in text:
        text = text.replace("’", "'")
    words = _WORD_RE.findall(text.lower())
    if _WORD_TO_DIGIT.keys().isdisjoint(words):
        return " ".join(words)
    return " ".join(_WORD_TO_DIGIT.get(w, w) for w in words)


def lower_same_length(text: str) -> str:
    """``text.lower()`` with every position kept, so match offsets index the original text.

    A few characters lower-case to two (``İ``); those stay as they are.
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def is_word_start(low: str, i: int) -> bool:
    """Whether a match at ``i`` starts a word (the text regexes check this outside the regex)."""
    return i == 0 or not (low[i - 1].isalnum() or low[i - 1] in "_'’")


def _spellings(words: list[str]) -> list[list[str]]:
    """The word sequence with digits also spelled out ("2 people" / "two people")."""
    variants: list[list[str]] = [[]]
    spell = sum(w.isdigit() for w in words) <= _MAX_NUMBER_TOKENS
    for w in words:
        forms = [w]
        if spell and w.isdigit() and int(w) < len(_NUMBER_WORDS):
            forms.append(_NUMBER_WORDS[int(w)])
        variants = [[*v, f] for v in variants for f in forms]
    return variants


def word_trie_pattern(sequences: list[list[str]]) -> str:
    """One regex for many word sequences, sharing common leading words.

    Options of one question share long templates ("the color of the straw is ..."); factoring them
    makes the engine walk a shared prefix once instead of once per option. Every top-level
    alternative starts with a literal, which lets the engine skip ahead to candidate positions.
    A sequence that is a prefix of another ("medium" / "medium well") becomes an optional tail,
    taken greedily so the longer one wins.
    """
    groups: dict[str, list[list[str]]] = {}
    for seq in sequences:
        groups.setdefault(seq[0], []).append(seq[1:])
    alternatives = []
    for word in sorted(groups, key=len, reverse=True):
        tails = groups[word]
        head = re.escape(word).replace("'", "['’]")
        longer = [t for t in tails if t]
        if longer:
            tail = r"[\W_]+(?:" + word_trie_pattern(longer) + ")"
            head += f"(?:{tail})" + ("?" if len(longer) < len(tails) else "")
        alternatives.append(head)
    return "|".join(alternatives)


def _common_affixes(token_lists: list[list[str]]) -> tuple[int, int]:
    """Lengths of the word prefix and suffix that every option shares (without overlapping)."""
    shortest = min(len(t) for t in token_lists)
    pre = 0
    while pre < shortest and all(t[pre] == token_lists[0][pre] for t in token_lists):
        pre += 1
    suf = 0
    while suf < shortest - pre and all(t[-1 - suf] == token_lists[0][-1 - suf] for t in token_lists):
        suf += 1
    return pre, suf


def _option_keys(token_lists: list[list[str]]) -> list[list[str]]:
    """The distinctive words of each option once the shared sentence template is removed.

    Full-sentence options ("The color of the clock is red.") are echoed in reasoning by their
    distinctive part only ("The clock is red."). If one option breaks the template (an appended
    "I'm not sure"), the template is taken from the others and that option keeps its full text.
    """
    if len(token_lists) < 2:
        return token_lists
    candidates = [(None, *_common_affixes(token_lists))]
    if len(token_lists) >= 3 and candidates[0][1] + candidates[0][2] == 0:
        for out in range(len(token_lists)):
            rest = token_lists[:out] + token_lists[out + 1 :]
            candidates.append((out, *_common_affixes(rest)))
    out, pre, suf = max(candidates, key=lambda c: c[1] + c[2])
    if pre + suf == 0:
        return token_lists
    keys = [t if i == out else t[pre : len(t) - suf] for i, t in enumerate(token_lists)]
    return token_lists if any(t and not k for t, k in zip(token_lists, keys, strict=True)) else keys


# A text mention: (start, end, option index, whether the whole option text matched).
TextMention = tuple[int, int, int, bool]


@dataclass(frozen=True)
class OptionMatcher:
    """Compiled patterns for finding references to one question's options in free text.

    Built once per option list and cached, because the same options are scored for every
    variant of a sample.
    """

    n: int
    text_re: re.Pattern[str]
    surfaces: dict[str, tuple[int, bool]]
    zero: tuple[int, bool] | None = None
    """The option (index, whole text) that is the number 0, which "no" before a word also names;
    None without one, or when an option's own text starts with "no"."""

    def text_mentions(self, low: str, start: int = 0, end: int | None = None) -> list[TextMention]:
        """Option texts (full or distinctive part) named in lower-cased ``low``, in order."""
        end = len(low) if end is None else end
        out = []
        for m in self.text_re.finditer(low, start, end):
            if is_word_start(low, m.start()):
                found = self.surfaces.get(m.group()) or self.surfaces.get(normalise(m.group()))
                if found is not None:  # None when an apostrophe separated two words ("ice'cream")
                    out.append((m.start(), m.end(), *found))
        if self.zero is not None:
            zeros = [
                (m.start(), m.end(), *self.zero)
                for m in _NO_AS_ZERO_RE.finditer(low, start, end)
                if is_word_start(low, m.start())
            ]
            if zeros:
                out = sorted(out + zeros)
        return out

    def letter_index(self, letter: str) -> int | None:
        """0-based index of an option letter, None when the question has no such option."""
        i = ord(letter) - ord("A") if len(letter) == 1 else -1
        return i if 0 <= i < self.n else None

    def text_option(self, text: str) -> int | None:
        """The single option that ``text`` names by its text, None if zero, several or negated.

        A negation outside the matched words ("not red") makes a text answer unusable: the rule
        judge must not turn "it is not red" into "red".
        """
        low = lower_same_length(text)
        mentions = self.text_mentions(low)
        if len({m[2] for m in mentions}) != 1:
            return None
        cursor, outside = 0, []
        for start, end, _, _ in mentions:
            outside.append(low[cursor:start])
            cursor = end
        outside.append(low[cursor:])
        if _NEGATION_RE.search(" ".join(outside)):
            return None
        return mentions[0][2]


@lru_cache(maxsize=4096)
def _matcher(options: tuple[str, ...]) -> OptionMatcher:
    token_lists = [normalise(o).split() for o in options]
    surfaces: dict[str, tuple[int, bool]] = {}
    ambiguous: set[str] = set()
    for i, (full, key) in enumerate(zip(token_lists, _option_keys(token_lists), strict=True)):
        for words, is_full in ((full, True), (key, full == key)):
            s = " ".join(words)
            if not s:
                continue  # an option of punctuation only can be named by its letter alone
            if s in surfaces and surfaces[s][0] != i:
                ambiguous.add(s)
            elif s not in surfaces or is_full:
                surfaces[s] = (i, is_full)
    for s in ambiguous:
        del surfaces[s]
    spellings = [list(v) for v in {tuple(v) for s in surfaces for v in _spellings(s.split())}]
    alternation = word_trie_pattern(spellings) if spellings else "(?!)"
    text_re = re.compile(f"(?:{alternation})(?![\\w'’])")
    zero = surfaces.get("0")
    has_no = any(s.split()[0] == "no" for s in surfaces)
    return OptionMatcher(
        n=len(options),
        text_re=text_re,
        surfaces=surfaces,
        zero=None if has_no else zero,
    )


def option_matcher(options: Sequence[str]) -> OptionMatcher:
    """The cached :class:`OptionMatcher` for an option list."""
    return _matcher(tuple(options))


def clear_option_cache() -> None:
    """Forget cached option matchers, e.g. to measure the cost of building them."""
    _matcher.cache_clear()


# --------------------------------------------------------------------------- answer text

_MARKUP_RE = re.compile(r"[*`]+")
_LEAD_MARKER_RE = re.compile(
    r"^\s*(?:(?:the\s+)?(?:final\s+|correct\s+|best\s+)?answer\b(?:\s+is\b)?\s*[:：]?|(?:option|choice)\b)\s*",
    re.IGNORECASE,
)
# A letter answer: "A", "(B)", "[C]", "C.", "C)", "C: text", "C. text". A letter followed by a
# space and a lower-case word is an article ("A cat"), not an answer letter.
_LETTER_ANSWER_RE = re.compile(r"^[(\[]?([A-Z])[)\]]?(?![\w'’])(?!\s+[a-z])[\s.:)\],;\-–]*(.*)$")
_OTHER_LETTER_RE = re.compile(r"(?<![\w'’])[A-Z](?![\w'’])")


def _first_line(text: str) -> str:
    """The answer's first non-empty line: models append junk or a copy of the reasoning after it."""
    for line in text.splitlines():
        line = line.strip().strip("\"'“”")
        if line:
            return line
    return ""


def answer_index(answer_text: str, options: Sequence[str]) -> int | None:
    """Option index named by an answer's text, or None when none is identified unambiguously.

    Letter and option-text answers are read alike whatever the prompt asked for: a model told to
    answer with a letter still often copies the option text, and the other way round.
    """
    matcher = option_matcher(options)
    bare = answer_text.strip()
    if len(bare) == 1 and bare.isascii() and bare.isalpha():  # the usual case, "B"
        exact = matcher.surfaces.get(bare.lower())
        return exact[0] if exact is not None else matcher.letter_index(bare.upper())
    line = _first_line(_LEAD_MARKER_RE.sub("", _MARKUP_RE.sub("", answer_text), count=1))
    if not line:
        return None
    exact = matcher.surfaces.get(normalise(line))
    if exact is not None:
        return exact[0]
    m = _LETTER_ANSWER_RE.match(line)
    if m is None:
        return matcher.text_option(line)
    rest = m.group(2)
    if rest:
        by_text = matcher.text_option(rest)
        if by_text is not None:
            return by_text  # the option text decides over the letter
        if _OTHER_LETTER_RE.search(rest):
            return None  # "A or B": two letters, no answer
    return matcher.letter_index(m.group(1))


# --------------------------------------------------------------------------- tag structure

_TAG_RE = re.compile(r"<\s*(/?)\s*(think|answer)\s*>", re.IGNORECASE)
_SPECIAL_TOKEN_RE = re.compile(r"<\|[^<>|\s]{1,40}\|>")
_MANGLED_ANSWER_OPEN_RE = re.compile(r"^[ \t]*<?[ \t]*answer[ \t]*>?[ \t]*:?[ \t]*$", re.IGNORECASE | re.MULTILINE)
_FALLBACK_MARKER_RE = re.compile(r"\b(?:final\s+)?answer\s*(?:is\b|[:：])", re.IGNORECASE)
_FINAL_ANSWER_RE = re.compile(r"[*_#]*\s*final\s+answer[\s*_]*[:：]", re.IGNORECASE)

_OUT, _THINK = 0, 1


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The last match: the model's final word counts when it repeats itself."""
    tail = deque(pattern.finditer(text), maxlen=1)
    return tail[0] if tail else None


@dataclass
class _Structure:
    """The response cut along its tags."""

    think: str | None
    top_answers: list[str]
    nested_answers: list[str]
    after_think: str
    unclosed: bool


def _recover_answer(segment: str) -> tuple[str, str]:
    """Split text before a stray ``</answer>`` into (preceding text, answer body).

    The body starts after a bare ``answer`` line (a mangled opening tag) when there is one,
    otherwise it is the last non-empty line.
    """
    last = _last_match(_MANGLED_ANSWER_OPEN_RE, segment)
    if last is not None:
        return segment[: last.start()], segment[last.end() :]
    stripped = segment.rstrip()
    cut = stripped.rfind("\n") + 1
    return segment[:cut], segment[cut:]


def _well_formed(text: str) -> _Structure | None:
    """The common ``<think>…</think>…<answer>…</answer>`` shape, found by plain string search.

    Returns None for anything else (other tags, other case, a stray ``<``); :func:`_structure`
    then walks the tags and reaches the same result for this shape, only slower.
    """
    if text.count("<") != 4:
        return None
    t0 = text.find("<think>")
    t1 = text.find("</think>", t0)
    a0 = text.find("<answer>", t1)
    a1 = text.find("</answer>", a0)
    if t0 < 0 or t1 < 0 or a0 < 0 or a1 < 0:
        return None
    return _Structure(text[t0 + 7 : t1].strip(), [text[a0 + 8 : a1]], [], text[t1 + 8 : a0] + text[a1 + 9 :], False)


def _structure(text: str) -> _Structure:
    """Walk the tags once, routing each stretch of text to the think, an answer, or outside."""
    well_formed = _well_formed(text)
    if well_formed is not None:
        return well_formed
    tags = list(_TAG_RE.finditer(text))
    last_think_close = max(
        (i for i, t in enumerate(tags) if t.group(1) and t.group(2).lower() == "think"), default=-1
    )
    think_parts: list[str] = []
    outside: list[str] = []
    top: list[str] = []
    nested: list[str] = []
    answer: list[str] | None = None
    answer_parent = _OUT
    state = _OUT
    think_seen = unclosed = False

    def route(segment: str) -> None:
        if answer is not None:
            answer.append(segment)
            if answer_parent == _THINK:
                think_parts.append(segment)
        elif state == _THINK:
            think_parts.append(segment)
        else:
            outside.append(segment)

    pos = 0
    for i, tag in enumerate(tags):
        segment = text[pos : tag.start()]
        pos = tag.end()
        closing, name = bool(tag.group(1)), tag.group(2).lower()
        if name == "answer" and closing and answer is None:
            head, body = _recover_answer(segment)
            route(head)
            if state == _THINK and i > last_think_close:
                state, unclosed = _OUT, True
            (top if state == _OUT else nested).append(body)
            continue
        route(segment)
        if name == "think" and not closing:
            if answer is None and state == _OUT:
                state, think_seen = _THINK, True
        elif name == "think":
            if answer is not None and answer_parent == _THINK:
                nested.append("".join(answer))
                answer = None
                state, outside = _OUT, []
            elif answer is None and state == _THINK:
                state, outside = _OUT, []
            elif answer is None and not think_seen:
                think_parts, outside, think_seen = outside, [], True
        elif not closing:
            if answer is None:
                if state == _THINK and i > last_think_close:
                    state, unclosed = _OUT, True
                answer, answer_parent = [], state
        else:
            (top if answer_parent == _OUT else nested).append("".join(answer or []))
            answer = None
        if state == _THINK:
            think_parts.append("\n")  # a removed tag still separates sentences
    route(text[pos:])
    if answer is not None:  # truncated inside <answer>
        (top if answer_parent == _OUT else nested).append("".join(answer))
    if state == _THINK:
        unclosed = True
    think = "".join(think_parts).strip() if think_seen else None
    return _Structure(think, top, nested, "".join(outside), unclosed)


def _fallback_answer(after_think: str, options: Sequence[str]) -> tuple[str, int] | None:
    """An explicit answer written outside any tag, or None. Never a guess from prose."""
    text = after_think.strip()
    if not text:
        return None
    marker = _last_match(_FALLBACK_MARKER_RE, text)
    if marker is not None:
        snippet = text[marker.end() :].strip()
        index = answer_index(snippet, options)
        if index is not None:
            return snippet, index
    if "\n" not in text:
        index = answer_index(text, options)
        if index is not None:
            return text, index
    return None


def parse_response(
    response: str, options: Sequence[str], *, prefill: str = "", answer_style: AnswerStyle = "letter"
) -> ParsedResponse:
    """Parse ``prefill + response`` into think, answer text, answer index and status."""
    text = prefill + response
    if "<|" in text:  # chat-template special tokens leaking into the decoded text
        text, response = _SPECIAL_TOKEN_RE.sub("", text), _SPECIAL_TOKEN_RE.sub("", response)
    parts = _structure(text)
    think = parts.think
    if not response.strip():
        return ParsedResponse(think, None, None, "empty")

    answer_text: str | None = None
    if answer_style == "final_answer" and not parts.unclosed:
        marker = _last_match(_FINAL_ANSWER_RE, parts.after_think)
        if marker is not None:
            answer_text = parts.after_think[marker.end() :].strip()
            if think is None:
                think = parts.after_think[: marker.start()].strip()
    if answer_text is None and (parts.top_answers or parts.nested_answers):
        answer_text = (parts.top_answers or parts.nested_answers)[-1].strip()

    if answer_text is not None:
        index = answer_index(answer_text, options)
        status: ParseStatus = "unparseable" if index is None else "ok"
        if parts.unclosed:
            status = "unclosed_think"
        return ParsedResponse(think, answer_text, index, status)
    if parts.unclosed:
        return ParsedResponse(think, None, None, "unclosed_think")
    fallback = _fallback_answer(parts.after_think, options)
    if fallback is None:
        return ParsedResponse(think, None, None, "no_answer_tag")
    return ParsedResponse(think, fallback[0], fallback[1], "no_answer_tag")
