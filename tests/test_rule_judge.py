"""The rule judge: think conclusions on hand-written cases, and agreement with hand labels."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from robustcot.scoring.parse import parse_response
from robustcot.scoring.rule_judge import RuleJudgement, judge_rule, quadrant, think_conclusion

SIGNS = ["regulatory", "informational", "brand", "directional"]
SIDES = ["The cup is on the left side of the plate.", "The cup is on the right side of the plate."]
STEAK = ["well", "medium-well", "medium", "rare"]
REAL = Path(__file__).parent / "fixtures" / "real" / "model_outputs" / "items.jsonl"
FLOOR = 0.9  # measured 39/40 on both; docs/rule_judge.md lists the disagreements


def conclusion_letter(think: str, options: list[str]) -> str | None:
    index = think_conclusion(think, options)
    return None if index is None else "ABCDEFGHIJ"[index]


# --------------------------------------------------------------------------- conclusions


@pytest.mark.parametrize(
    ("think", "expected"),
    [
        ("The answer is A.", "A"),
        ("Therefore, the correct answer must be D.", "D"),
        ("considering all the above we will make answer C", "C"),
        ('Given that option "B: informational seems most accurate.', "B"),
        ("Option C is the best choice here.", "C"),
        ("(D)", "D"),
        ("Answer: B", "B"),
        ("So D is correct.", "D"),
    ],
)
def test_explicit_letter_conclusions(think: str, expected: str) -> None:
    assert conclusion_letter(think, SIGNS) == expected


def test_conclusion_by_option_text() -> None:
    assert conclusion_letter("The sign on the pole is informational.", SIGNS) == "B"
    assert conclusion_letter("It is clear that the cup is on the right side of the plate.", SIDES) == "B"
    assert conclusion_letter("Looking closely, the cup sits to the left.", SIDES) == "A"


def test_last_conclusion_wins() -> None:
    think = "At first it looks regulatory. Looking again, the sign is directional."
    assert conclusion_letter(think, SIGNS) == "D"
    assert conclusion_letter("It is a regulatory sign. Therefore, the correct answer is D.", SIGNS) == "D"
    assert conclusion_letter("The answer is D. Hmm, no: the answer is A.", SIGNS) == "A"


@pytest.mark.parametrize(
    "think",
    [
        "It could be B or C.",
        "The answer is either A or D.",
        "The sign is informational or directional.",
        "The answer is A. But on reflection it could be B or C.",
        "The steak looks medium-rare.",
        "The option D: rare is closer, but the option C: medium is also plausible.",
    ],
)
def test_hedges_are_no_conclusion(think: str) -> None:
    options = STEAK if "steak" in think or "rare" in think else SIGNS
    assert think_conclusion(think, options) is None


@pytest.mark.parametrize(
    ("think", "expected"),
    [
        ("I initially thought B, but it's actually C.", "C"),
        ("The answer is A... wait, no. It's B.", "B"),
        ("Hmm, no: the answer is D.", "D"),
        ("**Answer: C**", "C"),
        ("Answer:\nB", "B"),
        ("Option B (informational) fits best.", "B"),
        ("The answer cannot be A, so it's B.", "B"),
        ("Options B and D are wrong, so C.", "C"),
        ("Both A and C are correct.", None),
        ("None of the options fit.", None),
        ("It is not A.", None),
        ("A is correct. B is also correct.", None),
        ("It looks informational. On a second look it is also informational.", "B"),
    ],
)
def test_common_phrasings(think: str, expected: str | None) -> None:
    assert conclusion_letter(think, SIGNS) == expected


def test_a_hedge_followed_by_a_decision_concludes() -> None:
    assert conclusion_letter("It could be B or C. After checking the colours, the answer is C.", SIGNS) == "C"


@pytest.mark.parametrize(
    "think",
    [
        "Option A is incorrect. Option B is wrong. Option C is unlikely. Option D is not right.",
        "It is not regulatory, informational, brand, or directional.",
        "The answer is unlikely to be A or C, and option D is also doubtful.",
    ],
)
def test_rejecting_options_is_no_conclusion(think: str) -> None:
    assert think_conclusion(think, SIGNS) is None


def test_rejection_after_a_conclusion_withdraws_it() -> None:
    assert think_conclusion("The answer is B. Actually, B is wrong.", SIGNS) is None
    assert conclusion_letter("The answer is B. A is wrong.", SIGNS) == "B"


def test_negation_scope() -> None:
    assert conclusion_letter("B is correct, not A.", SIGNS) == "B"
    assert conclusion_letter("A is wrong, so the answer is B.", SIGNS) == "B"
    assert conclusion_letter("There is no indication of regulatory, brand, or directional use. It is informational.", SIGNS) == "B"
    assert conclusion_letter("Option A is incorrect because regulatory signs restrict traffic. D fits.", SIGNS) == "D"
    assert conclusion_letter("It is made of plastic rather than wood.", ["plastic", "wood", "steel"]) == "A"


def test_letter_followed_by_other_options_text_follows_the_text() -> None:
    assert conclusion_letter("Therefore the answer is:\nA. The cup is on the right side of the plate.", SIDES) == "B"
    assert conclusion_letter("It matches option B. informational.", SIGNS) == "B"


def test_restated_option_list_is_not_a_conclusion() -> None:
    listing = "The options are:\nA. regulatory\nB. informational\nC. brand\nD. directional"
    assert think_conclusion(listing, SIGNS) is None
    assert conclusion_letter(listing + "\nThe sign is clearly informational, so B.", SIGNS) == "B"


@pytest.mark.parametrize("think", ["", "Let me look at the", "The cup is on the", "I need to zoom in first."])
def test_think_without_a_conclusion(think: str) -> None:
    assert think_conclusion(think, SIDES) is None


def test_article_a_and_pronoun_i_are_not_letters() -> None:
    assert conclusion_letter("A car is parked next to the bike.", ["bike", "car"]) is None  # both named: hedge
    assert conclusion_letter("A person stands there. The answer is B.", ["bike", "car"]) == "B"
    ten = [f"option {i}" for i in range(10)]
    assert conclusion_letter("I think the answer is C.", ten) == "C"


def test_invalid_letters_are_ignored() -> None:
    assert think_conclusion("The answer is E.", SIGNS) is None
    assert conclusion_letter("The answer is E. No wait, it is B.", SIGNS) == "B"


def test_number_words_match_counting_options() -> None:
    assert conclusion_letter("I count three apples on the table.", ["2", "3", "4"]) == "B"


def test_no_before_a_word_is_the_number_zero() -> None:
    counts = ["0", "1", "5", "2"]
    assert conclusion_letter("There are no squares in the image.", counts) == "A"
    assert conclusion_letter("There are no apples.", ["0 apples", "2 apples"]) == "A"
    assert conclusion_letter("No, there are 2 squares.", counts) == "D"  # an interjection
    assert think_conclusion("There are no squares in the image.", ["1", "2"]) is None  # no 0 to name
    assert conclusion_letter("There are no people.", ["yes", "no"]) == "B"  # "no" is an option


def test_every_synthetic_statement_concludes_its_own_option() -> None:
    """The synthetic benchmark's option statements are its gold thinks and injected thinks; the
    judge must read each as its option, a count of zero ("There are no squares ...") included."""
    from robustcot.data.synthetic import synthetic_sample

    samples = [synthetic_sample(i, png=False) for i in range(200)]
    zeros = 0
    for sample in samples:
        for k, statement in enumerate(sample.option_statements):
            assert think_conclusion(statement, sample.options) == k, (sample.id, statement, sample.options)
            zeros += statement.startswith("There are no ")
    assert zeros > 0


def test_words_inside_an_option_are_not_cues() -> None:
    options = ["There are 2 people.", "There are no people."]
    assert conclusion_letter("I can see that there are no people in it.", options) == "B"
    abstain = [*SIGNS, "I'm not sure"]
    assert conclusion_letter("Hard to say. I'm not sure.", abstain) == "E"


# --------------------------------------------------------------------------- judgement


def judge(response: str, options: list[str], prefill: str = "") -> RuleJudgement:
    return judge_rule(parse_response(response, options, prefill=prefill), options)


def test_consistent_and_inconsistent() -> None:
    assert judge("<think>It is informational.</think><answer>B</answer>", SIGNS) == RuleJudgement("consistent", 1)
    inconsistent = judge("<think>It is informational.</think><answer>D</answer>", SIGNS)
    assert inconsistent == RuleJudgement("inconsistent", 1)
    assert inconsistent.consistent is False


def test_no_conclusion_is_its_own_class() -> None:
    judged = judge("<think>It could be B or C.</think><answer>B</answer>", SIGNS)
    assert judged == RuleJudgement("no_conclusion", None)
    assert judged.consistent is None
    stop = judge("<answer>B</answer>", SIGNS, prefill="<think>Okay let's see. This should be the final answer.</think>")
    assert stop.label == "no_conclusion"
    assert judge("<answer>B</answer>", SIGNS).label == "no_conclusion"  # no think at all


def test_unjudged_without_an_answer_still_reports_the_conclusion() -> None:
    judged = judge("<think>It is informational.</think><answer>Z</answer>", SIGNS)
    assert judged == RuleJudgement("unjudged", 1)
    assert judged.consistent is None


def test_prefill_and_continuation_are_judged_together() -> None:
    prefill = "<think>The cup is on the left side of the plate"
    recovered = judge(" but I think it is on the right.</think><answer>B</answer>", SIDES, prefill)
    assert recovered.label == "consistent"
    followed = judge(".</think><answer>B</answer>", SIDES, prefill)
    assert followed == RuleJudgement("inconsistent", 0)


def test_nested_answer_tags_inside_the_think() -> None:
    response = "<think>It is on the right.\n<answer>B. right</answer>\n</think><answer>A</answer>"
    assert judge(response, SIDES) == RuleJudgement("inconsistent", 1)


@pytest.mark.parametrize(
    ("consistent", "correct", "expected"),
    [
        (True, True, "consistent_correct"),
        (True, False, "consistent_incorrect"),
        (False, True, "inconsistent_correct"),
        (False, False, "inconsistent_incorrect"),
        (None, True, None),
        (True, None, None),
        (None, None, None),
    ],
)
def test_quadrant(consistent: bool | None, correct: bool | None, expected: str | None) -> None:
    assert quadrant(consistent, correct) == expected


# --------------------------------------------------------------------------- real hand labels


def dev_items() -> list[dict]:
    items = [json.loads(line) for line in REAL.read_text().splitlines() if line.strip()]
    return [item for item in items if item["split"] == "dev"]


def labelled_letter(label: str, letters: list[str]) -> str | None:
    """Hand label as a letter; NONE and out-of-option short answers are "no option"."""
    return label if label in letters else None


def test_agreement_with_hand_labels_beats_trivial_judges() -> None:
    items = dev_items()
    n = len(items)
    conclusion_agree = consistency_agree = 0
    always_consistent = conclusion_is_answer = 0
    labels = set()
    for item in items:
        letters, options = list(item["options"]), list(item["options"].values())
        judged = judge_rule(parse_response(item["response"], options), options)
        labels.add(judged.label)
        concluded = None if judged.conclusion_index is None else letters[judged.conclusion_index]
        conclusion_agree += concluded == labelled_letter(item["think_conclusion"], letters)
        consistency_agree += judged.consistent == item["consistent"]
        always_consistent += item["consistent"] is True
        conclusion_is_answer += labelled_letter(item["answer"], letters) == labelled_letter(
            item["think_conclusion"], letters
        )
    assert conclusion_agree / n >= FLOOR, f"think conclusion agreement {conclusion_agree}/{n}"
    assert consistency_agree / n >= FLOOR, f"consistency agreement {consistency_agree}/{n}"
    assert always_consistent / n < FLOOR - 0.3
    assert conclusion_is_answer / n < FLOOR - 0.3
    assert {"consistent", "inconsistent", "no_conclusion"} <= labels


# --------------------------------------------------------------------------- robustness

NOISE = [
    "<think>", "</think>", "<answer>", "</answer>", "< Answer >", "<THINK>", "<|im_end|>", "answer\n",
    "A", "B.", "(C)", "E", "I", "Answer: D", "Final Answer:", "\n", " ", ", ", "; ", ". ", "...", "?!",
    "red", "blue", "not", "no,", "but", "rather than", "also", "either", "or", "medium-rare", "ice'cream",
    "ice_cream", "’", "İ", "ß", "中文", "**", "option", "the answer is", "I'm not sure", "two", "2", "-",
]
NOISE_OPTIONS = [
    ["red", "blue", "green", "I'm not sure"],
    ["The ball is red.", "The ball is blue."],
    ["2", "3", "ice cream", "ice-cream cone"],
    [f"o{i}" for i in range(26)],
    ["A", "B"],
    ["?!", "a'b", "c_d"],
    ["only one option"],
    [],
]


def test_parse_and_judge_never_crash_on_noise() -> None:
    rng = random.Random(0)
    for _ in range(3000):
        response = "".join(rng.choice(NOISE) for _ in range(rng.randint(0, 25)))
        prefill = "".join(rng.choice(NOISE) for _ in range(rng.randint(0, 3)))
        options = rng.choice(NOISE_OPTIONS)
        style = rng.choice(["letter", "option_text", "final_answer"])
        parsed = parse_response(response, options, prefill=prefill, answer_style=style)
        judged = judge_rule(parsed, options)
        for index in (parsed.answer_index, judged.conclusion_index):
            assert index is None or 0 <= index < len(options)
        assert (judged.label == "unjudged") == (parsed.answer_index is None)
        assert (judged.label == "no_conclusion") <= (judged.conclusion_index is None)
