import math

import pytest

from robustcot.models.letters import letter_logprobs, locate_answer
from robustcot.scoring.uncertainty import letter_uncertainty


def test_letter_variants_include_bare_and_spaced(tok, vocab):
    a_ids = set(vocab.variants["A"])
    assert tok.convert_tokens_to_ids("A") in a_ids
    assert tok.convert_tokens_to_ids("ĠA") in a_ids
    assert all(tok.decode([i]).strip() == "A" for i in a_ids)
    assert not set(vocab.variants["A"]) & set(vocab.variants["B"])


def _tokens(tok, text):
    ids = tok.encode(text, add_special_tokens=False)
    return [tok.decode([i]) for i in ids], ids


def test_locate_answer_finds_letter_after_marker(tok, vocab):
    texts, ids = _tokens(tok, "<think>A or B? B.</think><answer> C</answer>")
    pos = locate_answer(texts, ids, vocab, "<answer>", ["A", "B", "C"])
    assert pos is not None and pos.letter_step is not None
    assert texts[pos.letter_step].strip() == "C"
    assert "".join(texts[: pos.cut]) + pos.tail == "<think>A or B? B.</think><answer>"


def test_locate_answer_skips_opening_paren(tok, vocab):
    texts, ids = _tokens(tok, "<answer>(B)</answer>")
    pos = locate_answer(texts, ids, vocab, "<answer>", ["A", "B"])
    assert texts[pos.letter_step].strip() == "B"


def test_locate_answer_letter_not_allowed_or_text(tok, vocab):
    texts, ids = _tokens(tok, "<answer>E</answer>")
    assert locate_answer(texts, ids, vocab, "<answer>", ["A", "B"]).letter_step is None
    texts, ids = _tokens(tok, "<answer>the red circle</answer>")
    pos = locate_answer(texts, ids, vocab, "<answer>", ["A", "B"])
    assert pos.letter_step is None and "".join(texts[: pos.cut]) + pos.tail == "<answer>"


def test_locate_answer_without_marker(tok, vocab):
    texts, ids = _tokens(tok, "I think A")
    assert locate_answer(texts, ids, vocab, "<answer>", ["A", "B"]) is None


def test_letter_token_fused_with_marker_is_not_read_from_generation(vocab):
    # a vocabulary could hold ">A" as one token: the generated step is then not a letter step
    texts = ["<", "answer", ">A", "</", "answer", ">"]
    ids = [0, 1, 2, 3, 1, 4]
    pos = locate_answer(texts, ids, vocab, "<answer>", ["A"])
    assert pos.letter_step is None and pos.cut == 2 and pos.tail == ">"


def test_letter_logprobs_sum_variants_and_uncertainty(vocab):
    logits = [0.0] * len(vocab.ids)
    a_cols = vocab.columns("A")
    for c in a_cols:
        logits[c] = math.log(2.0)
    logprobs = [v - math.log(100.0) for v in logits]  # a vocabulary whose normaliser is 100
    lp = letter_logprobs(vocab, logprobs, letters=["A", "B"])
    assert lp["A"] == pytest.approx(math.log(2.0 * len(a_cols) / 100.0))
    assert lp["B"] == pytest.approx(math.log(len(vocab.columns("B")) / 100.0))
    unc = letter_uncertainty(lp, ["A", "B"])
    na, nb = 2.0 * len(a_cols), float(len(vocab.columns("B")))
    assert unc.probs == pytest.approx([na / (na + nb), nb / (na + nb)])
    assert unc.mass == pytest.approx((na + nb) / 100.0)
    p = unc.probs
    assert unc.entropy == pytest.approx(-(p[0] * math.log(p[0]) + p[1] * math.log(p[1])))


def test_uncertainty_none_without_mass():
    assert letter_uncertainty({"A": float("-inf")}, ["A", "B"]) is None


def test_prefill_ending_with_marker_puts_the_answer_at_step_zero(tok, vocab):
    texts, ids = _tokens(tok, " B</answer>")
    pos = locate_answer(texts, ids, vocab, "<answer>", ["A", "B"], prefill="<think>x</think><answer>")
    assert pos.cut == 0 and pos.tail == "" and texts[pos.letter_step].strip() == "B"
    assert locate_answer(texts, ids, vocab, "<answer>", ["A", "B"], prefill="<think>x") is None
