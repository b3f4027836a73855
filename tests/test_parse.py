"""Response parsing: tags, answers by letter or by text, statuses, and the real model outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustcot.scoring.parse import answer_index, option_matcher, parse_response

COLORS = ["The color of the ball is red.", "The color of the ball is blue.", "The color of the ball is green."]
SIDES = ["The cup is on the left side of the plate.", "The cup is on the right side of the plate."]
ABCD = ["regulatory", "informational", "brand", "directional"]
REAL = Path(__file__).parent / "fixtures" / "real" / "model_outputs" / "items.jsonl"


def real_items() -> list[dict]:
    return [json.loads(line) for line in REAL.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("A", 0),
        ("b", 1),
        ("(B)", 1),
        ("[C]", 2),
        ("C.", 2),
        ("C)", 2),
        ("D: directional", 3),
        ("C. some text the options do not contain", 2),
        ("Answer: D", 3),
        ("The answer is B.", 1),
        ("**B**", 1),
        ("D\n addCriterion\nThe sign points one way.", 3),
        ("informational", 1),
        ("  Informational.  ", 1),
        ('"brand"', 2),
    ],
)
def test_answer_index_letter_and_text_forms(answer: str, expected: int) -> None:
    assert answer_index(answer, ABCD) == expected


@pytest.mark.parametrize("answer", ["E", "Z", "(F)", "E. something"])
def test_letters_outside_the_options_give_no_index(answer: str) -> None:
    assert answer_index(answer, ABCD) is None


def test_option_text_decides_over_a_disagreeing_letter() -> None:
    # A is "left"; the model wrote A's letter with B's text, as in copied option lists.
    assert answer_index("A. The cup is on the right side of the plate.", SIDES) == 1
    assert answer_index("A. right", SIDES) == 1
    assert answer_index("B. left", SIDES) == 0


def test_distinctive_words_of_sentence_options() -> None:
    assert answer_index("Blue", COLORS) == 1
    assert answer_index("The ball is green.", COLORS) == 2
    assert answer_index("the color of the ball is RED", COLORS) == 0


@pytest.mark.parametrize(
    "answer",
    ["A or B", "red or blue", "The ball is not red.", "There is no ball in the image.", "", "   ", "**"],
)
def test_ambiguous_negated_or_empty_answers_give_no_index(answer: str) -> None:
    assert answer_index(answer, COLORS) is None


def test_article_a_is_not_the_letter_a() -> None:
    assert answer_index("A cat", ["dog", "cat"]) == 1
    assert answer_index("A", ["dog", "cat"]) == 0


def test_number_words_match_digit_options() -> None:
    assert answer_index("three", ["2", "3", "4"]) == 1
    assert answer_index("There are two people.", ["There are 2 people.", "There are 3 people."]) == 0


def test_abstain_option_keeps_sentence_keys_working() -> None:
    options = [*COLORS, "I'm not sure"]
    assert answer_index("I'm not sure", options) == 3
    assert answer_index("Blue", options) == 1


def test_text_mentions_prefer_the_longest_option() -> None:
    options = ["sour cream", "cream", "whipping cream", "ice-cream"]
    matcher = option_matcher(options)
    found = [m[2] for m in matcher.text_mentions("whipping cream, ice cream and cream")]
    assert found == [2, 3, 1]


# --------------------------------------------------------------------------- tags and statuses


def test_well_formed_response() -> None:
    parsed = parse_response("<think>\nThe sign points one way.\n</think>\n<answer>D</answer>", ABCD)
    assert parsed.think == "The sign points one way."
    assert parsed.answer_text == "D"
    assert parsed.answer_index == 3
    assert parsed.status == "ok"


def test_tag_case_and_spacing_do_not_matter() -> None:
    plain = parse_response("<think>It is blue.</think><answer>B</answer>", COLORS)
    shouted = parse_response("<THINK>It is blue.</THINK>< answer >B</ answer >", COLORS)
    assert plain == shouted
    assert shouted.answer_index == 1


def test_empty_response() -> None:
    for response in ["", "   \n", "<|im_end|>"]:
        parsed = parse_response(response, ABCD)
        assert parsed.status == "empty"
        assert parsed.answer_index is None


def test_empty_continuation_keeps_the_prefill_think() -> None:
    parsed = parse_response("", ABCD, prefill="<think>The sign is brand")
    assert parsed.status == "empty"
    assert parsed.think == "The sign is brand"


def test_no_think_at_all() -> None:
    parsed = parse_response("<answer>B</answer>", ABCD)
    assert parsed.think is None
    assert (parsed.answer_index, parsed.status) == (1, "ok")


def test_unclosed_think_ends_at_the_answer_tag() -> None:
    parsed = parse_response("<think>The jockey with the red hat leads based on their\n<answer>C</answer>", ABCD)
    assert parsed.status == "unclosed_think"
    assert parsed.answer_index == 2
    assert parsed.think == "The jockey with the red hat leads based on their"


def test_truncated_think_gives_no_answer_even_with_an_answer_line_inside() -> None:
    parsed = parse_response("<think>It is large.\n<think>Answer: D", ABCD)
    assert parsed.status == "unclosed_think"
    assert parsed.answer_index is None
    assert parsed.think is not None and "Answer: D" in parsed.think
    assert "<think>" not in parsed.think


def test_think_opened_by_the_chat_template() -> None:
    parsed = parse_response("The sign is informational.</think><answer>B</answer>", ABCD)
    assert parsed.think == "The sign is informational."
    assert (parsed.answer_index, parsed.status) == (1, "ok")


def test_duplicated_think_openings_are_dropped() -> None:
    parsed = parse_response("<think>first<think>second</think><answer>A</answer>", ABCD)
    assert parsed.think is not None
    assert "first" in parsed.think and "second" in parsed.think and "<" not in parsed.think
    assert parsed.answer_index == 0


def test_several_think_blocks_are_joined_in_order() -> None:
    parsed = parse_response("<think>one</think><think>two</think><answer>A</answer>", ABCD)
    assert parsed.think is not None
    assert parsed.think.index("one") < parsed.think.index("two")


def test_answer_nested_inside_think_is_used_when_there_is_no_other() -> None:
    response = "<think>The umbrella is:\n<answer>Purple</answer>\n</think>  \n The umbrella is **Purple**."
    options = ["The umbrella is purple.", "The umbrella is red."]
    parsed = parse_response(response, options)
    assert (parsed.answer_text, parsed.answer_index, parsed.status) == ("Purple", 0, "ok")
    assert parsed.think is not None and "Purple" in parsed.think and "<answer>" not in parsed.think


def test_top_level_answer_wins_over_nested_one() -> None:
    parsed = parse_response("<think><answer>A</answer></think><answer>B</answer>", ABCD)
    assert parsed.answer_index == 1


def test_last_of_duplicated_answers_wins() -> None:
    parsed = parse_response("<think>x</think><answer>A</answer><answer>C</answer>", ABCD)
    assert parsed.answer_index == 2


def test_truncated_answer_tag_still_parses() -> None:
    parsed = parse_response("<think>x</think><answer>B", ABCD)
    assert (parsed.answer_index, parsed.status) == (1, "ok")


def test_mangled_answer_opening_is_recovered() -> None:
    closed = parse_response("<think>It is odd.</think>\nanswer\nD</answer>", ABCD)
    assert (closed.answer_index, closed.status) == (3, "ok")
    unclosed = parse_response("<think>It is an abnormality. \nanswer\nD</answer>", ABCD)
    assert (unclosed.answer_index, unclosed.status) == (3, "unclosed_think")
    assert unclosed.think == "It is an abnormality."


def test_stray_text_before_think_is_ignored() -> None:
    parsed = parse_response("D\n<think>\nIt is surfing.\n</think>\n<answer>A\n junk</answer>", ABCD)
    assert parsed.think == "It is surfing."
    assert parsed.answer_index == 0


def test_unparseable_answer() -> None:
    parsed = parse_response("<think>x</think><answer>E</answer>", ABCD)
    assert (parsed.answer_text, parsed.answer_index, parsed.status) == ("E", None, "unparseable")


def test_missing_answer_tag_with_an_explicit_marker() -> None:
    parsed = parse_response("<think>x</think>\nSo the answer is B.", ABCD)
    assert (parsed.answer_index, parsed.status) == (1, "no_answer_tag")
    assert parsed.answer_text == "B."


def test_missing_answer_tag_with_a_bare_answer_line() -> None:
    parsed = parse_response("<think>It is blue.</think>\nThe ball is blue.", COLORS)
    assert (parsed.answer_index, parsed.status) == (1, "no_answer_tag")


def test_missing_answer_tag_without_an_explicit_answer_is_not_guessed() -> None:
    for tail in ["Both red and blue appear.", "Red appears first.\nThen blue appears.", ""]:
        parsed = parse_response(f"<think>hmm</think>{tail}", COLORS)
        assert parsed.status == "no_answer_tag"
        assert parsed.answer_index is None and parsed.answer_text is None


def test_prefill_and_continuation_form_one_think() -> None:
    parsed = parse_response(
        " the plate. Looking again, it is on the right.</think><answer>B</answer>",
        SIDES,
        prefill="<think>The cup is on the left side of",
    )
    assert parsed.think == "The cup is on the left side of the plate. Looking again, it is on the right."
    assert (parsed.answer_index, parsed.status) == (1, "ok")


def test_stop_think_prefill() -> None:
    prefill = "<think>Okay let's see. This should be the final answer.</think>"
    parsed = parse_response("\n<answer>A</answer>", ABCD, prefill=prefill)
    assert parsed.think == "Okay let's see. This should be the final answer."
    assert (parsed.answer_index, parsed.status) == (0, "ok")


def test_final_answer_style() -> None:
    parsed = parse_response("The ball looks blue to me.\n**Final Answer:** (B)", COLORS, answer_style="final_answer")
    assert parsed.think == "The ball looks blue to me."
    assert (parsed.answer_index, parsed.status) == (1, "ok")
    missing = parse_response("The ball looks blue.\nOr is it red?", COLORS, answer_style="final_answer")
    assert (missing.answer_index, missing.status) == (None, "no_answer_tag")
    one_line = parse_response("The ball looks blue.", COLORS, answer_style="final_answer")
    assert (one_line.answer_index, one_line.status) == (1, "no_answer_tag")  # an explicit one-line answer


def test_final_answer_style_uses_the_last_marker_outside_the_think() -> None:
    response = "<think>Final Answer: A? No.</think>Final Answer: C\nFinal Answer: B"
    parsed = parse_response(response, ABCD, answer_style="final_answer")
    assert parsed.answer_index == 1
    assert parsed.think == "Final Answer: A? No."


def test_letter_and_option_text_styles_parse_alike() -> None:
    for response in ["<think>x</think><answer>B</answer>", "<think>x</think><answer>informational</answer>"]:
        assert parse_response(response, ABCD) == parse_response(response, ABCD, answer_style="option_text")


# --------------------------------------------------------------------------- real outputs


def test_parser_never_crashes_on_real_outputs() -> None:
    statuses = set()
    for item in real_items():
        options = list(item["options"].values())
        parsed = parse_response(item["response"], options)
        assert parsed.status in {"ok", "no_answer_tag", "unclosed_think", "empty", "unparseable"}
        assert parsed.answer_index is None or 0 <= parsed.answer_index < len(options)
        assert parsed.think is None or "<think>" not in parsed.think.lower()
        assert (parsed.status == "ok") <= (parsed.answer_index is not None)
        statuses.add(parsed.status)
        for style in ("option_text", "final_answer"):
            parse_response(item["response"], options, answer_style=style)
    assert {"ok", "unparseable", "unclosed_think"} <= statuses  # the file exercises the hard paths


def test_parsed_answers_match_hand_labels() -> None:
    dev = [item for item in real_items() if item["split"] == "dev"]
    agree = 0
    for item in dev:
        letters = list(item["options"])
        parsed = parse_response(item["response"], list(item["options"].values()))
        expected = item["answer"] if item["answer"] in letters else None
        agree += (None if parsed.answer_index is None else letters[parsed.answer_index]) == expected
    assert agree / len(dev) >= 0.95, f"{agree}/{len(dev)}"
