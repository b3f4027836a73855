"""(d) The judge cascade on real model outputs: LLM calls saved, and agreement with the full panel.

Data: the 40 hand-labelled (``split: dev``) responses in shared/data/real/model_outputs/items.jsonl,
parsed and rule-judged as ``robustcot eval`` would, written as a run directory.

Judges: three scripted backends derived from the hand labels. Each replies
``THINK_CONCLUSION: <hand-labelled conclusion>`` (NONE where the hand label is NONE or names no
option), except that with probability ``noise`` (0.10 / 0.15 / 0.20 for the three judges) it names
a different conclusion drawn uniformly from the other letters and NONE, and with probability 0.03 it
replies junk (unparsed). The draw is a deterministic function of (judge, think, repeat seed), so
the cascade and the full panel see the same replies for the same item. They stand in for real LLM
judges of known quality: the numbers say what the cascade costs in agreement if the LLM judges are
that good, not how good a particular LLM is.

Each repeat runs ``judge_run`` twice on fresh copies of the run: full panel (``cascade=False``)
and cascade (10% audit). Printed: share of LLM judge calls the cascade saves, agreement of the
cascade's final labels with the full panel's, and both against the hand labels.
Usage: python bench/bench_cascade.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robustcot.judges import judge_run
from robustcot.models.base import Completion, GenerationRequest
from robustcot.scoring.parse import parse_response
from robustcot.scoring.rule_judge import judge_rule, quadrant
from robustcot.store import rows_to_table

ITEMS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real" / "model_outputs" / "items.jsonl"
NOISE = {"scripted:j1": 0.10, "scripted:j2": 0.15, "scripted:j3": 0.20}
JUNK = 0.03
HAND_LABEL = {True: "consistent", False: "inconsistent", None: "no_conclusion"}
_THINK_RE = re.compile(r"REASONING:\n<<<\n(.*?)\n>>>", re.DOTALL)


class NoisyHandLabelJudge:
    """A Backend replying with the hand-labelled conclusion, perturbed as the module describes."""

    def __init__(self, name: str, truth: dict[str, str], letters: dict[str, int], noise: float, seed: int) -> None:
        self.name, self.truth, self.letters, self.noise, self.seed = name, truth, letters, noise, seed

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        return [Completion(text=self._reply(_THINK_RE.search(r.conversation.user_text).group(1))) for r in requests]

    def _reply(self, think: str) -> str:
        digest = hashlib.sha256(f"{self.name}|{self.seed}|{think}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        value = self.truth[think]
        u = rng.random()
        if u < JUNK:
            return "The reasoning is consistent with the answer."
        if u < JUNK + self.noise:
            choices = [c for c in [*(chr(65 + i) for i in range(self.letters[think])), "NONE"] if c != value]
            value = str(rng.choice(choices))
        return f"The reasoning ends on this option.\nTHINK_CONCLUSION: {value}"

    def fingerprint(self) -> dict:
        return {"backend": "noisy-hand-label", "noise": self.noise}


def write_run(run_dir: Path, items: list[dict]) -> None:
    """Records as eval writes them (plus the question/options columns judges read)."""
    rows = []
    for it in items:
        options = list(it["options"].values())
        parsed = parse_response(it["response"], options)
        rule = judge_rule(parsed, options)
        gold = list(it["options"]).index(it["gold"])
        correct = None if parsed.answer_index is None else parsed.answer_index == gold
        rows.append(
            {
                "key": f"{it['id']}|base|0",
                "sample_id": it["id"],
                "benchmark": it["id"].split("-")[0],
                "variant": "base",
                "status": parsed.status,
                "think": parsed.think,
                "answer_text": parsed.answer_text,
                "answer_index": parsed.answer_index,
                "correct": correct,
                "judge_rule": rule.label,
                "think_conclusion_index": rule.conclusion_index,
                "consistent": rule.consistent,
                "quadrant": quadrant(rule.consistent, correct),
            }
        )
    table = rows_to_table(rows)
    table = table.append_column("question", pa.array([it["question"] for it in items], pa.string()))
    table = table.append_column(
        "options", pa.array([list(it["options"].values()) for it in items], pa.list_(pa.string()))
    )
    run_dir.mkdir(parents=True)
    pq.write_table(table, run_dir / "records.parquet")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    items = [json.loads(line) for line in ITEMS.read_text().splitlines()]
    items = [it for it in items if it["split"] == "dev"]
    truth, letters = {}, {}
    for it in items:
        think = (parse_response(it["response"], list(it["options"].values())).think or "").strip() or "(empty)"
        truth[think] = it["think_conclusion"] if it["think_conclusion"] in it["options"] else "NONE"
        letters[think] = len(it["options"])
    hand = {f"{it['id']}|base|0": HAND_LABEL[it["consistent"]] for it in items}

    saved, vs_full, full_vs_hand, cascade_vs_hand, audit_agree = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            results = {}
            for mode in ("full", "cascade"):
                run_dir = Path(tmp) / f"{rep}-{mode}"
                write_run(run_dir, items)
                backends = {s: NoisyHandLabelJudge(s, truth, letters, p, rep) for s, p in NOISE.items()}
                res = judge_run(run_dir, list(NOISE), cascade=mode == "cascade", seed=rep, backends=backends, n_boot=200)
                results[mode] = res
            full = results["full"].records.set_index("key")["judge_panel"]
            casc = results["cascade"].records.set_index("key")["judge_panel"]
            judged = results["cascade"].records.set_index("key")["judge_route"] != "none"
            saved.append(results["cascade"].stats["cascade"]["llm_calls_saved_share"])
            vs_full.append(float((full[judged] == casc[judged]).mean()))
            full_vs_hand.append(float(np.mean([full[k] == hand[k] for k in full[judged].index])))
            cascade_vs_hand.append(float(np.mean([casc[k] == hand[k] for k in casc[judged].index])))
            audit = results["cascade"].stats["audit"]["rule_vs_llm_panel"]
            if audit["n"]:
                audit_agree.append(audit["rate"])

    def show(name: str, values: list[float]) -> None:
        print(f"{name:42s} mean {np.mean(values):.3f}  min {np.min(values):.3f}  max {np.max(values):.3f}")

    n_judged = int(judged.sum())
    print(f"{len(items)} hand-labelled real responses, {n_judged} with a parsed answer; {args.repeats} repeats")
    print(f"scripted judges: noise {list(NOISE.values())}, junk {JUNK}")
    show("LLM judge calls saved by the cascade", saved)
    show("cascade label == full-panel label", vs_full)
    show("full-panel label == hand label", full_vs_hand)
    show("cascade label == hand label", cascade_vs_hand)
    show("audit: rule label == LLM panel label", audit_agree)


if __name__ == "__main__":
    main()
