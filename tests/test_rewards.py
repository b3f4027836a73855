"""Rewards: format, accuracy per answer type, faithfulness (rule and HTTP LLM judge), shortcut detectors."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from robustcot.errors import ConfigError
from robustcot.train.answers import Target, check_answer
from robustcot.train.judge_http import JudgeEndpoint
from robustcot.train.rewards import LABELS, RewardConfig, format_ok, score_batch, score_response
from robustcot.train.shortcuts import is_empty_think, near_duplicate_share, shortcut_stats

MC = Target("mcq", "B", ("left", "right"))
RULE = RewardConfig(faithfulness="rule")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>x</think><answer>A</answer>", True),
        ("  <think>\nx\n</think>\n<answer> A </answer>\n", True),
        ("<think></think><answer>A</answer>", True),
        ("<think>x</think>", False),
        ("<answer>A</answer><think>x</think>", False),
        ("<think>x</think><answer>A</answer><answer>B</answer>", False),
        ("<think>x</think> so <answer>A</answer>", False),
        ("<think>a<think>b</think><answer>A</answer>", False),
        ("preamble <think>x</think><answer>A</answer>", False),
    ],
)
def test_format(text, ok):
    assert format_ok(text) is ok


@pytest.mark.parametrize(
    ("response", "score", "accuracy"),
    [
        ("<think>It is on the right.</think><answer>B</answer>", 1.1, 1.0),
        ("<think>It is on the right.</think><answer>right</answer>", 1.1, 1.0),
        ("<think>It is on the left.</think><answer>A</answer>", 0.1, 0.0),
        ("The answer is <answer>B</answer>", 1.0, 1.0),
        ("no tags at all", 0.0, 0.0),
    ],
)
def test_study_reward_mcq(response, score, accuracy):
    parts = score_response(response, MC)
    assert parts.score == pytest.approx(score)
    assert parts.accuracy == accuracy
    assert parts.faithful == 1.0  # the plain study reward never multiplies


def test_integer_answers_and_consistency():
    gold = Target("integer", "3")
    right = score_response("<think>I count 1, 2, 3 cups.</think><answer>three</answer>", gold)
    assert (right.score, right.consistency) == (pytest.approx(1.1), "consistent")
    off = score_response("<think>There are 4 cups.</think><answer>3</answer>", gold)
    assert (off.accuracy, off.consistency) == (1.0, "inconsistent")
    silent = score_response("<think>Let me count.</think><answer>3</answer>", gold)
    assert silent.consistency == "no_conclusion"
    assert score_response("<think>4</think><answer>4</answer>", gold).accuracy == 0.0


def test_geometry_options_compare_as_mathematics():
    pytest.importorskip("math_verify")
    geo = Target("mcq", "A", ("5 \\sqrt { 2 }", "10", "12", "8"), math=True)
    assert check_answer(geo, "<think>d = 5√2</think><answer>5\\sqrt{2}</answer>").correct  # option text
    assert check_answer(geo, "<think>d² = 50</think><answer>\\sqrt{50}</answer>").correct  # only as a value
    assert check_answer(geo, "<think>..</think><answer>A</answer>").correct
    assert not check_answer(geo, "<think>..</think><answer>12.0</answer>").correct
    assert check_answer(geo, "<think>..</think><answer>12.0</answer>").answer_index == 2
    plain = Target("mcq", "A", ("5 \\sqrt { 2 }", "10"))
    assert not check_answer(
        plain, "<think>..</think><answer>\\sqrt{50}</answer>"
    ).correct  # math=False: text only


def test_open_math_target_is_unjudged_by_rule():
    pytest.importorskip("math_verify")
    target = Target("math", "48")
    parts = score_response("<think>x = 48</think><answer>48.0</answer>", target, config=RULE)
    assert (parts.accuracy, parts.consistency, parts.faithful) == (1.0, "unsupported", 1.0)


def test_prefill_is_part_of_the_scored_text():
    prefill = "<think>Let me look at the image carefully. The object is to the left"
    parts = score_response(
        " but I think it is right.</think><answer>B</answer>", MC, prefill=prefill, config=RULE
    )
    assert parts.format == 1.0  # the opening tag came from the prefill
    assert parts.think is not None and parts.think.startswith("Let me look")
    assert (parts.consistency, parts.score) == ("consistent", pytest.approx(1.1))
    assert (
        score_response(" so left.</think><answer>B</answer>", MC, prefill=prefill, config=RULE).score == 0.0
    )


@pytest.mark.parametrize(
    ("response", "label"),
    [
        ("<think>It is on the right.</think><answer>B</answer>", "consistent"),
        ("<think>It is on the left.</think><answer>B</answer>", "inconsistent"),
        ("<think></think><answer>B</answer>", "no_conclusion"),
        ("<think>It is on the right.</think>", "unjudged"),
    ],
)
def test_faithfulness_multiplier(response, label):
    plain, faithful = score_response(response, MC), score_response(response, MC, config=RULE)
    assert plain.consistency == faithful.consistency == label
    assert faithful.score == (plain.score if label == "consistent" else 0.0)


def test_parts_are_numbers_with_fixed_keys():
    a = score_response("<think>right</think><answer>B</answer>", MC).as_dict()
    b = score_response("garbage", Target("integer", "2")).as_dict()
    assert a.keys() == b.keys()
    assert {*LABELS, "score", "format", "accuracy", "faithful"} <= a.keys()
    assert all(isinstance(v, float) for v in [*a.values(), *b.values()])
    assert sum(a[label] for label in LABELS) == 1.0


def test_invalid_targets_and_configs():
    with pytest.raises(ConfigError):
        Target("mcq", "C", ("a", "b"))
    with pytest.raises(ConfigError):
        Target("integer", "many")
    with pytest.raises(ConfigError):
        RewardConfig(faithfulness="llm")
    with pytest.raises(ConfigError):
        score_response("x", MC, config=RewardConfig("llm", judge=JudgeEndpoint("h:1", "m")))


def test_target_from_exported_record():
    info = {"answer_type": "mcq", "options": ["left", "right"], "math": False}
    assert Target.from_record("B", info) == MC
    assert Target.from_record("7", None) == Target("integer", "7")
    assert Target.from_record("\\frac{1}{2}", None).answer_type == "math"


# --------------------------------------------------------------------------- LLM judge over HTTP


class _Judge(BaseHTTPRequestHandler):
    """Replies with the conclusion scripted in the reasoning (``[[C]]``), a 500 for ``[[500]]``, or sleeps."""

    requests: list[dict] = []  # noqa: RUF012 - shared by design, reset per test

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        user = body["messages"][-1]["content"]
        if "[[500]]" in user:
            self.send_response(500)
            self.end_headers()
            return
        if "[[slow]]" in user:
            time.sleep(1.5)
        value = user.split("[[", 1)[1].split("]]", 1)[0] if "[[" in user else "NONE"
        reply = {"choices": [{"message": {"content": f"Reasoning done.\nTHINK_CONCLUSION: {value}"}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def judge_server():
    _Judge.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_llm_judge_decides_faithfulness(judge_server):
    config = RewardConfig("llm", judge=JudgeEndpoint(judge_server, "judge", timeout_s=0.5))
    responses = [
        "<think>The rule judge reads right. [[A]]</think><answer>B</answer>",  # judge: concludes A → inconsistent
        "<think>Looks left to me. [[B]]</think><answer>B</answer>",  # judge: B → consistent (rule says inconsistent)
        "<think>Right side. [[500]]</think><answer>B</answer>",  # judge fails → rule fallback
        "<think>Right side. [[slow]]</think><answer>B</answer>",  # judge times out → rule fallback
        "<think>[[B]]</think>",  # no answer: reward 0 whatever the judge says, so it is not asked
    ]
    parts = score_batch(responses, [MC] * 5, questions=["Where is it?"] * 5, config=config)
    assert [p.consistency for p in parts[:2]] == ["inconsistent", "consistent"]
    assert [p.score for p in parts[:2]] == [0.0, pytest.approx(1.1)]
    assert [p.llm_judged for p in parts] == [True, True, False, False, False]
    assert [p.judge_error for p in parts] == [False, False, True, True, False]
    assert parts[2].consistency == "consistent" and parts[2].score == pytest.approx(1.1)  # rule judge's label
    assert len(_Judge.requests) == 4
    sent = _Judge.requests[0]
    assert sent["model"] == "judge" and "Where is it?" in sent["messages"][-1]["content"]
    assert "B. right" in sent["messages"][-1]["content"]  # options shown; the gold is not


def test_llm_judge_for_counting(judge_server):
    config = RewardConfig("llm", judge=JudgeEndpoint(f"http://{judge_server}/v1", "judge"))
    target = Target("integer", "3")
    parts = score_batch(
        [
            "<think>one two three [[3]]</think><answer>3</answer>",
            "<think>I see 3 [[5]]</think><answer>3</answer>",
        ],
        [target, target],
        questions=["How many cups?"] * 2,
        config=config,
    )
    assert [p.consistency for p in parts] == ["consistent", "inconsistent"]
    assert "How many cups?" in _Judge.requests[0]["messages"][-1]["content"]


# --------------------------------------------------------------------------- shortcut detectors


def test_near_duplicates():
    base = "the red circle is left of the blue square so the answer is left and nothing else matters here"
    assert (
        near_duplicate_share([base, base.upper() + "!", "a completely different line of reasoning here"])
        == 2 / 3
    )
    assert near_duplicate_share([base, base.replace("nothing", "little")]) == 0.0  # 5-gram Jaccard < 0.9
    long_a = " ".join(f"w{i}" for i in range(100))
    long_b = long_a.replace("w99", "z99")  # 95 of 97 shingles shared
    assert near_duplicate_share([long_a, long_b]) == 1.0
    assert near_duplicate_share(["", "", base]) == 0.0  # empty thinks are not copies
    assert is_empty_think(" ... ") and not is_empty_think("ok")


def test_shortcut_stats_per_group():
    stats = shortcut_stats(["same text", "same text", "", "other"], ["g1", "g1", "g2", "g2"])
    assert stats.n_groups == 2
    assert stats.empty_think_share == 0.25
    assert stats.near_duplicate_share == 0.5  # g1 fully duplicated, g2 has one non-empty think
    assert stats.mean_think_chars == pytest.approx((9 + 9 + 0 + 5) / 4)
    with pytest.raises(ValueError):
        shortcut_stats(["a"], [])
