"""LLM judges: prompt, reply parsing, cache, cascade routing, and judging a run directory.

Judges are real :class:`Backend` objects: the tiny HF model (its replies are junk, which exercises
``unparsed``) and ``ScriptedBackend``, a test double of our own protocol returning canned replies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from robustcot.errors import ConfigError
from robustcot.judges import JudgeItem, LLMJudge, judge_column, judge_run
from robustcot.judges.cache import JudgeCache, cache_key
from robustcot.judges.cascade import explicit_conclusions, is_clear, routes
from robustcot.judges.prompts import parse_reply, render_prompt
from robustcot.models.base import Completion, GenerationRequest
from robustcot.scoring.parse import parse_response
from robustcot.scoring.rule_judge import judge_rule, quadrant
from robustcot.store import RunStore, rows_to_table

ITEMS = Path(__file__).parent / "fixtures" / "real" / "model_outputs" / "items.jsonl"
OPTS = ["red", "blue", "green", "yellow"]
_THINK_RE = re.compile(r"REASONING:\n<<<\n(.*?)\n>>>", re.DOTALL)


class ScriptedBackend:
    """A Backend whose reply to a judge prompt is ``reply(think shown in the prompt)``."""

    def __init__(self, reply: Callable[[str], str], name: str = "scripted", fail_on: str | None = None) -> None:
        self.reply = reply
        self.name = name
        self.fail_on = fail_on
        self.seen = 0

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        out = []
        for r in requests:
            self.seen += 1
            think = _THINK_RE.search(r.conversation.user_text).group(1)
            if self.fail_on is not None and self.fail_on in think:
                out.append(Completion(text="", error="boom"))
            else:
                out.append(Completion(text=self.reply(think)))
        return out

    def fingerprint(self) -> dict:
        return {"backend": "scripted"}


def _item(key: str, think: str, answer_index: int = 0, answer_text: str = "A") -> JudgeItem:
    return JudgeItem(key, "What colour?", tuple(OPTS), think, answer_text, answer_index)


# -- prompt and reply ------------------------------------------------------------------------------
def test_prompt_shows_question_options_think_and_answer_only():
    prompt = render_prompt("What colour?", OPTS, "It is blue.", "B")
    assert "What colour?" in prompt and "B. blue" in prompt and "D. yellow" in prompt
    assert "<<<\nIt is blue.\n>>>" in prompt and "<<<\nB\n>>>" in prompt
    assert "one of A, B, C, D" in prompt
    assert "(empty)" in render_prompt("Q", OPTS, "  ", "B")


@pytest.mark.parametrize(
    ("reply", "status", "index"),
    [
        ("The reasoning says blue.\nTHINK_CONCLUSION: B", "ok", 1),
        ("THINK_CONCLUSION: A\nOn reflection it switches.\nTHINK_CONCLUSION: C", "ok", 2),
        ("**THINK_CONCLUSION:** D", "ok", 3),
        ("THINK_CONCLUSION: [b]", "ok", 1),
        ("It hedges.\nTHINK_CONCLUSION: NONE", "ok", None),
        ("<think>maybe THINK_CONCLUSION: A</think>\nTHINK_CONCLUSION: B", "ok", 1),
        ("reasoning here</think>THINK_CONCLUSION: C", "ok", 2),
        ("<think>THINK_CONCLUSION: A ... and then I ran out of tokens", "unclosed_thinking", None),
        ("I will write THINK_CONCLUSION: A at the end.", "no_tag", None),
        ("THINK_CONCLUSION: E", "invalid_value", None),
        ("THINK_CONCLUSION: <letter>", "invalid_value", None),
        ("consistent", "no_tag", None),
    ],
)
def test_parse_reply_strict_last_line_binding(reply, status, index):
    parsed = parse_reply(reply, n_options=4)
    assert (parsed.status, parsed.conclusion_index) == (status, index)


# -- cache -----------------------------------------------------------------------------------------
def test_cache_key_depends_on_judge_version_and_prompt():
    k = cache_key("j", "v1", "sys", "p")
    assert k == cache_key("j", "v1", "sys", "p")
    assert len({k, cache_key("j2", "v1", "sys", "p"), cache_key("j", "v2", "sys", "p"), cache_key("j", "v1", "sys", "q")}) == 4


def test_cache_replays_and_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "judge_cache.jsonl"
    cache = JudgeCache(path)
    cache.add([{"key": "a", "reply": "x"}, {"key": "b", "reply": "y"}])
    with open(path, "ab") as fh:
        fh.write(b'{"key": "c", "rep')  # a crash mid-write
    again = JudgeCache(path)
    assert again.torn_line_dropped and len(again) == 2 and again.get("b") == "y" and again.get("c") is None
    again.add([{"key": "d", "reply": "z"}])
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "d"]
    assert JudgeCache(path).get("d") == "z"


def test_cache_refuses_a_corrupt_complete_line(tmp_path):
    path = tmp_path / "judge_cache.jsonl"
    path.write_text('{"key": "a", "reply": "x"}\nnot json\n{"key": "b", "reply": "y"}\n')
    with pytest.raises(ConfigError, match="line 2"):
        JudgeCache(path)


# -- one judge -------------------------------------------------------------------------------------
def test_llm_judge_compares_in_code_caches_and_dedupes(tmp_path):
    backend = ScriptedBackend(lambda think: "THINK_CONCLUSION: B" if "blue" in think else "THINK_CONCLUSION: NONE")
    judge = LLMJudge("scripted", backend, JudgeCache(tmp_path / "c.jsonl"))
    items = [
        _item("1", "It is blue.", 1, "B"),
        _item("2", "It is blue.", 0, "A"),
        _item("3", "Hard to say."),
        _item("4", "It is blue.", 1, "B"),
    ]
    verdicts = judge.judge(items)
    assert [v.label for v in verdicts] == ["consistent", "inconsistent", "no_conclusion", "consistent"]
    assert verdicts[0].conclusion_index == 1 and verdicts[2].conclusion_index is None
    assert backend.seen == 3  # items 1 and 4 share one prompt

    again = LLMJudge("scripted", backend, JudgeCache(tmp_path / "c.jsonl")).judge(items)
    assert backend.seen == 3 and all(v.cached for v in again)
    assert [v.label for v in again] == [v.label for v in verdicts]


def test_llm_judge_counts_unparsed_and_does_not_cache_errors(tmp_path):
    backend = ScriptedBackend(lambda think: "I think it is consistent.", fail_on="boom")
    cache = JudgeCache(tmp_path / "c.jsonl")
    verdicts = LLMJudge("scripted", backend, cache).judge([_item("1", "fine"), _item("2", "boom")])
    assert [(v.label, v.status) for v in verdicts] == [("unparsed", "no_tag"), ("unparsed", "error")]
    assert len(cache) == 1  # the error is retried next time, the junk reply is not


def test_tiny_model_as_judge_gives_counted_unparsed_replies(tiny_backend, tmp_path):
    cache = JudgeCache(tmp_path / "c.jsonl")
    judge = LLMJudge("tiny", tiny_backend, cache)
    verdicts = judge.judge([_item("1", "It is blue, so B."), _item("2", "Red.")])
    assert all(v.label == "unparsed" and v.status in ("no_tag", "invalid_value") for v in verdicts)
    assert judge.requests_sent == 2 and len(cache) == 2
    rerun = LLMJudge("tiny", tiny_backend, cache)
    assert [v.reply for v in rerun.judge([_item("1", "It is blue, so B.")])] == [verdicts[0].reply]
    assert rerun.requests_sent == 0


# -- cascade ---------------------------------------------------------------------------------------
def test_explicit_conclusions_find_letters_not_articles():
    think = "Option A is incorrect. The answer is B. Answer: C\nI choose D. the answer is A dog. Option B is correct."
    assert [o for o, _ in explicit_conclusions(think, 4)] == [1, 2, 3, 1]
    assert explicit_conclusions("The answer is E.", 4) == []


@pytest.mark.parametrize(
    ("think", "status", "label", "conclusion", "clear"),
    [
        ("It looks red. Therefore, the answer is A.", "ok", "consistent", 0, True),
        ("The answer is A. Wait, the colour is blue. So the answer is B.", "ok", "inconsistent", 1, False),
        ("The answer is B. " + "More words follow here " * 5, "ok", "consistent", 1, False),
        ("The ball is green.", "ok", "inconsistent", 2, True),
        ("The ball is not red, it is green.", "ok", "consistent", 2, False),
        ("Red or green, hard to say.", "ok", "consistent", 0, False),
        ("", "ok", "no_conclusion", None, True),
        ("It looks red. Therefore, the answer is A.", "unclosed_think", "consistent", 0, False),
        ("Hmm.", "ok", "no_conclusion", None, False),
    ],
)
def test_is_clear(think, status, label, conclusion, clear):
    assert is_clear(think, OPTS, status, label, conclusion) is clear


def test_routes_audit_a_seeded_share_of_clear_rows():
    judgeable = [True] * 40 + [False] * 2
    clear = [i % 2 == 0 for i in range(42)]
    r = routes(judgeable, clear, audit_fraction=0.1, seed=3)
    assert r.count("audit") == 2 and r.count("rule") == 18 and r.count("llm") == 20 and r.count("none") == 2
    assert all(clear[i] for i, x in enumerate(r) if x == "audit")
    assert r == routes(judgeable, clear, audit_fraction=0.1, seed=3)
    assert r != routes(judgeable, clear, audit_fraction=0.1, seed=4)
    assert "audit" not in routes(judgeable, clear, audit_fraction=0.0, seed=3)
    with pytest.raises(ValueError):
        routes(judgeable, clear, audit_fraction=1.5, seed=0)


# -- judging a run ---------------------------------------------------------------------------------
def _real_dev_items() -> list[dict]:
    return [json.loads(line) for line in ITEMS.read_text().splitlines() if '"split": "dev"' in line]


def _hand_conclusion(item: dict) -> str:
    letter = item["think_conclusion"]
    return letter if letter in item["options"] else "NONE"


def _write_run(run_dir: Path, items: list[dict]) -> None:
    """A run directory with the records eval writes for these real responses."""
    rows = []
    for n, it in enumerate(items):
        options = list(it["options"].values())
        parsed = parse_response(it["response"], options)
        rule = judge_rule(parsed, options)
        gold = list(it["options"]).index(it["gold"])
        correct = None if parsed.answer_index is None else parsed.answer_index == gold
        rows.append(
            {
                "key": f"{it['id']}|{'base' if n % 2 else 'wrong_think'}|0",
                "sample_id": it["id"],
                "benchmark": it["id"].split("-")[0],
                "variant": "base" if n % 2 else "wrong_think",
                "status": parsed.status,
                "think": parsed.think,
                "answer_text": parsed.answer_text,
                "answer_index": parsed.answer_index,
                "correct": correct,
                "judge_rule": rule.label,
                "think_conclusion_index": rule.conclusion_index,
                "consistent": rule.consistent,
                "quadrant": quadrant(rule.consistent, correct),
                "n_options": len(options),
                "question": it["question"],
                "options": options,
            }
        )
    table = rows_to_table(rows)
    run_dir.mkdir(parents=True)
    pq.write_table(table, run_dir / "records.parquet")


@pytest.fixture()
def real_run(tmp_path) -> tuple[Path, dict[str, str]]:
    items = _real_dev_items()
    _write_run(tmp_path / "run", items)
    hand = {}
    for it in items:
        parsed = parse_response(it["response"], list(it["options"].values()))
        hand[(parsed.think or "").strip() or "(empty)"] = _hand_conclusion(it)
    return tmp_path / "run", hand


def _oracle(hand: dict[str, str], *, flip: str | None = None) -> ScriptedBackend:
    """Replies with the hand-labelled conclusion; ``flip`` turns replies for thinks containing it to NONE."""

    def reply(think: str) -> str:
        value = "NONE" if flip is not None and flip in think else hand[think]
        return f"Reading the reasoning.\nTHINK_CONCLUSION: {value}"

    return ScriptedBackend(reply)


def test_judge_run_cascade_on_real_outputs(real_run):
    run_dir, hand = real_run
    specs = ["scripted:good", "scripted:also-good", "scripted:junk"]
    backends = {
        specs[0]: _oracle(hand),
        specs[1]: _oracle(hand, flip="the"),
        specs[2]: ScriptedBackend(lambda think: "no idea"),
    }
    result = judge_run(run_dir, specs, backends=backends, audit_fraction=0.25, seed=0, n_boot=50)
    df = result.records.set_index("key")
    stats = json.loads((run_dir / "judges.json").read_text())
    assert stats == json.loads(json.dumps(result.stats))

    routes_seen = df["judge_route"].value_counts().to_dict()
    assert routes_seen.get("rule", 0) >= 10 and routes_seen["llm"] >= 10 and routes_seen["audit"] >= 1
    assert stats["cascade"]["llm_calls_saved_share"] == pytest.approx(routes_seen["rule"] / (len(df) - routes_seen.get("none", 0)))
    asked = df["judge_route"].isin(["llm", "audit"])
    assert backends[specs[0]].seen == asked.sum()  # LLM judges saw exactly the routed rows
    assert df.loc[~asked, judge_column(specs[0])].isna().all()

    ruled = df["judge_route"].isin(["rule", "audit"])
    assert (df.loc[ruled, "judge_panel"] == df.loc[ruled, "judge_rule"]).all()
    assert (df.loc[df["judge_route"] == "none", "judge_panel"] == "unjudged").all()
    assert (df[judge_column(specs[2])].dropna() == "unparsed").all()
    judges = {j["spec"]: j for j in stats["judges"]}
    assert judges[specs[2]]["unparsed"] == {"no_tag": int(asked.sum())}

    # the oracle and the cascade's clear rows agree with the hand labels on every decided row
    hand_label = {True: "consistent", False: "inconsistent", None: "no_conclusion"}
    for it in _real_dev_items():
        row = df[df["sample_id"] == it["id"]].iloc[0]
        expected = hand_label[it["consistent"]]
        answer = list(it["options"]).index(it["answer"]) if it["answer"] in it["options"] else None
        if row["judge_route"] == "llm" and answer is not None and row["answer_index"] == answer:
            assert row[judge_column(specs[0])] == expected, it["id"]
        if row["judge_route"] in ("rule", "audit"):
            assert row["judge_rule"] == expected, it["id"]

    panel_consistent = df["judge_panel"].map({"consistent": True, "inconsistent": False})
    assert (df["consistent"].isna() == panel_consistent.isna()).all()
    assert (df["consistent"].dropna() == panel_consistent.dropna()).all()
    assert stats["audit"]["rule_vs_llm_panel"]["n"] == routes_seen["audit"]
    overall = next(a for a in stats["agreement"] if a["benchmark"] == "all")
    assert overall["n_dropped_unparsed"] == asked.sum()  # the junk judge leaves no fully parsed row

    # re-judging replays the cache: no backend call, same labels; the table keeps its row count
    fresh = {s: ScriptedBackend(lambda think: "THINK_CONCLUSION: A") for s in specs}
    again = judge_run(run_dir, specs, backends=fresh, audit_fraction=0.25, seed=0, n_boot=10)
    assert all(b.seen == 0 for b in fresh.values())
    assert again.records["judge_panel"].tolist() == result.records["judge_panel"].tolist()
    assert len(pq.read_table(run_dir / "records.parquet")) == len(df)


def test_judge_run_without_cascade_sends_every_judgeable_row_and_replaces_old_columns(real_run):
    run_dir, hand = real_run
    judge_run(run_dir, ["scripted:a", "scripted:b"], backends={"scripted:a": _oracle(hand), "scripted:b": _oracle(hand)}, n_boot=10)
    backend = _oracle(hand)
    result = judge_run(run_dir, ["scripted:c"], cascade=False, backends={"scripted:c": backend}, n_boot=10)
    df = result.records
    assert set(df["judge_route"]) <= {"llm", "none"}
    assert backend.seen == (df["judge_route"] == "llm").sum()
    assert judge_column("scripted:a") not in df.columns and judge_column("scripted:c") in df.columns
    assert result.stats["cascade"]["llm_calls_saved_share"] == 0


def test_judge_run_rejects_clashing_specs_and_old_records(tmp_path, real_run):
    run_dir, _ = real_run
    with pytest.raises(ConfigError, match="clashing"):
        judge_run(run_dir, ["x:a-b", "x:a_b"], backends={})
    with pytest.raises(ConfigError, match="at least one"):
        judge_run(run_dir, [], backends={})
    old = RunStore(tmp_path / "old")
    old.append([{"key": "s|base|0", "status": "ok"}])
    with pytest.raises(ConfigError, match="question"):
        judge_run(old.path, ["x:a"], backends={})
    assert judge_column("vllm:Qwen/Qwen3-32B") == "judge_vllm_qwen_qwen3_32b"
