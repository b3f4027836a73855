"""Throughput of the GRPO reward (rule-based, rule judge included) on one core.

Every rollout is scored during training, so the reward must keep up with generation: the target is
at least 20,000 responses per second on one core. Measured over the 82 real RL-model outputs in
``tests/fixtures/real/model_outputs/items.jsonl`` (option questions with gold letters), repeated to
``--n`` responses, for:

* ``study``     — 0.1·format + 1.0·accuracy, rule-judge consistency computed for logging, parts as
  the numeric dict verl/TRL log (``score_response(...).as_dict()``);
* ``faithful``  — the same × the rule judge's think≡answer indicator;
* ``verl``      — ``verl_reward.compute_score`` as verl calls it (row → target, prefill, async call);
* ``shortcuts`` — the group detectors (mean think length, near-duplicate share, empty share) over
  groups of 8, on the thinks the reward already extracted.

The process is pinned to one core; each round is timed with process CPU time (waiting for a core
on a busy machine is not counted) and the best of ``--rounds`` is reported, with the median.

Usage: ``python bench/bench_rewards.py [--n 50000] [--rounds 5] [--core 0]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from robustcot.train.answers import Target
from robustcot.train.rewards import RewardConfig, score_response
from robustcot.train.shortcuts import shortcut_stats
from robustcot.train.verl_reward import compute_score

ITEMS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real" / "model_outputs" / "items.jsonl"
TARGET_PER_S = 20_000
GROUP = 8


def load() -> list[tuple[str, list[str], str]]:
    rows = [json.loads(line) for line in ITEMS.read_text().splitlines() if line.strip()]
    return [(r["response"], list(r["options"].values()), r["gold"]) for r in rows]


def best_rate(fn: Callable[[], int], rounds: int) -> tuple[float, float]:
    """(best, median) items per CPU second over ``rounds`` calls of ``fn`` (which returns its item count)."""
    fn()  # warm caches (option matchers, regexes)
    rates = []
    for _ in range(rounds):
        start = time.process_time()
        n = fn()
        rates.append(n / (time.process_time() - start))
    return max(rates), statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="responses per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})

    items = load()
    work = (items * (args.n // len(items) + 1))[: args.n]
    targets = [(r, Target("mcq", g, tuple(o))) for r, o, g in work]
    rule = RewardConfig(faithfulness="rule")

    def study() -> int:
        for response, target in targets:
            score_response(response, target).as_dict()
        return len(targets)

    def faithful() -> int:
        for response, target in targets:
            score_response(response, target, config=rule).as_dict()
        return len(targets)

    verl_rows = [
        (r, g, {"answer_type": "mcq", "options": o, "question": "", "injection": {}}) for r, o, g in work
    ]

    async def verl_all() -> int:
        for response, gold, info in verl_rows:
            await compute_score("bench", response, gold, info, faithfulness="rule")
        return len(verl_rows)

    thinks = [score_response(r, t).think for r, t in targets]
    groups = [i // GROUP for i in range(len(thinks))]

    def shortcuts() -> int:
        shortcut_stats(thinks, groups)
        return len(thinks)

    print(f"{len(items)} distinct real responses (mean {statistics.mean(len(r) for r, _, _ in items):.0f} chars), "
          f"{len(work)} per round, {args.rounds} rounds, pinned to core {args.core}")  # fmt: skip
    results = {
        "study": best_rate(study, args.rounds),
        "faithful": best_rate(faithful, args.rounds),
        "verl": best_rate(lambda: asyncio.run(verl_all()), args.rounds),
        "shortcuts": best_rate(shortcuts, args.rounds),
    }
    for name, (best, median) in results.items():
        print(f"{name:<10}{best:>10,.0f} responses/s best  {median:>10,.0f} median  (CPU time)")
    met = min(results["study"][0], results["faithful"][0]) >= TARGET_PER_S
    print(f"target    {TARGET_PER_S:>10,} responses/s (study and faithful): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
